import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// The Meridian additions to a bridge block that shape its outbox: refuse, message age, packet size.
    @Suite("16 Bridge options", .serialized, .enabled(if: BrokerIntegration.isMeridian, "bridges of meridian-edge"))
    struct BridgeOptionsTests {
        typealias B = BridgeBehaviourTests

        @Test("queue_overflow refuse: with the outbox full, an MQTT 5 publisher gets PUBACK 0x97")
        func refuseAnswersQuotaExceeded() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let edge = try await B.startEdge(blocks: [
                B.block("uplink", ports: [remote.port], clientID: Helpers.unique("edge-refuse"), rules: ["r/# out 1"],
                        extra: ["max_queued_messages 3", "drain_max_inflight 1", "queue_overflow refuse"]),
            ])
            defer { edge.cleanup() }
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 1)
            #expect(remote.stop() == .success)

            let client = try RawMQTTClient(port: edge.port)
            try client.send(RawPacket.connect(.v5, clientID: Helpers.unique("refused-publisher")))
            _ = try await client.readPacket()
            // 1 in the window + 3 queued fit; the 5th is refused.
            var reasons: [UInt8] = []
            for id in 1...5 {
                try client.send(RawPacket.publish(.v5, topic: "r/x", payload: "m\(id)", qos: 1, packetID: UInt16(id)))
                let ack = try await client.readPacket()
                reasons.append(ack?.ackReason ?? 0xFF)
            }
            #expect(reasons == [0x00, 0x00, 0x00, 0x00, 0x97], "\(edge.report)")
        }

        @Test("max_message_age: messages older than the limit are dropped from the outbox, newer ones delivered")
        func maxMessageAge() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let app = Helpers.unique("cloud-app")
            try await PersistentSessionTests.leaveSession(port: remote.port, version: .v311, clientID: app, topic: "site1/#")
            let edge = try await B.startEdge(blocks: [
                B.block("uplink", ports: [remote.port], clientID: Helpers.unique("edge-age"), rules: ["a/# out 1 \"\" site1/"],
                        extra: ["max_message_age 2", "drain_max_inflight 1"]),
            ])
            defer { edge.cleanup() }
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 1)
            #expect(remote.stop() == .success)
            // The first fills the window (never dropped); the next two age out while the link is down.
            try await MosquittoPub.publishLines(port: edge.port, version: .v5, topic: "a/x", lines: ["window", "old1", "old2"], qos: 1)
            try await Task.sleep(for: .milliseconds(2_500))
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "a/x", message: "fresh", qos: 1)
            try await remote.start()
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 2)
            let sub = try await PersistentSessionTests.resume(port: remote.port, version: .v311, clientID: app, topic: "site1/#")
            defer { sub.cleanup() }
            let before = try await Helpers.messagesBeforeSentinel(sub, port: edge.port, version: .v5, topic: "a/x")
            #expect(before.map(\.text) == ["window", "fresh"], "\(edge.report)")
        }

        @Test("bridge_max_packet_size: a message too large for the link is dropped and counted, the rest flows")
        func maxPacketSize() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let edge = try await B.startEdge(general: ["sys_interval 1"], blocks: [
                B.block("uplink", ports: [remote.port], clientID: Helpers.unique("edge-size"), rules: ["p/# out 1"],
                        extra: ["bridge_max_packet_size 100"]),
            ])
            defer { edge.cleanup() }
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 1)
            let watcher = try await MosquittoSub.start(port: remote.port, version: .v311, topics: ["p/#"], qos: 1)
            defer { watcher.cleanup() }
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "p/big", message: String(repeating: "x", count: 200), qos: 1)
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "p/small", message: "small", qos: 1)
            let received = try await watcher.waitForMessage("the small message") { $0.text == "small" }
            #expect(received.map(\.text) == ["small"])
            _ = try await B.waitForDropCount(edge, 1)
        }

        @Test("drain_rate: 30 messages at 10 messages/s take about 3 s to cross, none lost")
        func drainRate() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let edge = try await B.startEdge(blocks: [
                B.block("uplink", ports: [remote.port], clientID: Helpers.unique("edge-rate"), rules: ["d/# out 1"],
                        extra: ["drain_rate 10"]),
            ])
            defer { edge.cleanup() }
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 1)
            let watcher = try await MosquittoSub.start(port: remote.port, version: .v311, topics: ["d/#"], qos: 1)
            defer { watcher.cleanup() }
            let lines = B.numbered("d", 1...30)
            let start = ContinuousClock.now
            try await MosquittoPub.publishLines(port: edge.port, version: .v5, topic: "d/x", lines: lines, qos: 1)
            let received = try await watcher.waitForMessages(count: 30, timeout: .seconds(15))
            let took = ContinuousClock.now - start
            #expect(received.map(\.text) == lines)
            // A rate limit is a lower bound on time: 30 messages at 10/s cannot cross in under ~2.9 s.
            #expect(took >= .milliseconds(2_800), "30 messages crossed in \(took)")
        }

        @Test("local_cleansession true: the outbox holds messages across an outage but starts empty when the gateway restarts")
        func localCleanSession() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let cloud = Helpers.unique("cloud-app")
            try await PersistentSessionTests.leaveSession(port: remote.port, version: .v311, clientID: cloud, topic: "c/#")
            let edge = try await B.startEdge(general: ["sys_interval 1"], blocks: [
                B.block("uplink", ports: [remote.port], clientID: Helpers.unique("edge-clean"), rules: ["c/# out 1"],
                        extra: ["local_cleansession true"]),
            ])
            defer { edge.cleanup() }
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 1)

            // An outage while the gateway runs: held, then delivered.
            #expect(remote.stop() == .success)
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "c/x", message: "kept", qos: 1)
            let status = try await MosquittoSub.start(port: edge.port, version: .v5, topics: ["$SYS/broker/bridge/uplink/queued/messages"])
            defer { status.cleanup() }
            _ = try await status.waitForMessage("the outbox holds it", timeout: .seconds(10)) { $0.text == "1" }
            try await remote.start()
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 2)
            // Delivered means acknowledged by the remote: the outbox (queued and in flight) is empty.
            _ = try await status.waitForMessage("the outbox drained", timeout: .seconds(10)) { _ in
                let texts = status.messages.map(\.text)
                return texts.firstIndex(of: "1").map { texts[$0...].contains("0") } ?? false
            }
            status.cleanup()

            // An outage across a restart of the gateway: what was queued is gone.
            #expect(remote.stop() == .success)
            try await MosquittoPub.publishLines(port: edge.port, version: .v5, topic: "c/x", lines: ["gone1", "gone2"], qos: 1)
            #expect(edge.stop() == .success)
            try await edge.start()
            try await remote.start()
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 1)
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "c/x", message: "new", qos: 1)

            let sub = try await PersistentSessionTests.resume(port: remote.port, version: .v311, clientID: cloud, topic: "c/#")
            defer { sub.cleanup() }
            let received = try await sub.waitForMessage("the message after the restart") { $0.text == "new" }
            #expect(received.map(\.text) == ["kept", "new"], "\(edge.report)")
        }
    }
}
