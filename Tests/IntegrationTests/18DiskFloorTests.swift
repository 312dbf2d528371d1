import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("18 Store free-space floor", .serialized, .enabled(if: BrokerIntegration.isMeridian, "persistence_min_free is a Meridian option"))
    struct DiskFloorTests {
        @Test("below persistence_min_free, a QoS 1 message that must be stored is refused with 0x97; QoS 0 flows")
        func floorRefusesStoredMessages() async throws {
            // A floor larger than any disk: the store is always "below" it.
            let broker = try await BrokerProcess.started(options: ["persistence true", "persistence_min_free 1000000000000000000"])
            defer { broker.cleanup() }
            let absent = Helpers.unique("away")
            try await PersistentSessionTests.leaveSession(port: broker.port, version: .v5, clientID: absent, topic: "floor/#")
            try await Helpers.waitUntil("the floor warning", timeout: .seconds(5)) { broker.stderr.contains("free-space floor") }

            let client = try RawMQTTClient(port: broker.port)
            try client.send(RawPacket.connect(.v5, clientID: Helpers.unique("publisher")))
            _ = try await client.readPacket()
            try client.send(RawPacket.publish(.v5, topic: "floor/a", payload: "must be stored", qos: 1, packetID: 1))
            let ack = try await client.readPacket()
            #expect(ack?.ackReason == 0x97, "\(String(describing: ack))\n\(broker.report)")

            let live = try await MosquittoSub.start(port: broker.port, version: .v5, topics: ["floor/#"])
            defer { live.cleanup() }
            try await MosquittoPub.publish(port: broker.port, version: .v5, topic: "floor/b", message: "qos0", qos: 0)
            #expect(try await live.waitForMessages(count: 1).map(\.text) == ["qos0"])
        }
    }
}
