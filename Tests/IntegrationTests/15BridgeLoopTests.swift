import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// Loop prevention (I5) with 3.1.1 bridges: Mosquitto's `try_private` marker, sent by Meridian's
    /// bridges and honoured when a Mosquitto bridge connects to Meridian.
    @Suite("15 Bridge loops", .serialized, .enabled(if: BrokerIntegration.isMeridian, "bridges of meridian-edge"))
    struct BridgeLoopTests {
        @Test("a Meridian 3.1.1 bridge with try_private gets no echo from mosquitto: a local device sees its message once")
        func meridianBridgeIsNotEchoed() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let edge = try await BridgeTests.startEdge(remote: remote, rules: ["loop/# both 1"])
            defer { edge.cleanup() }
            try await BridgeTests.waitUntilBridgeConnected(edge)
            let device = try await MosquittoSub.start(port: edge.port, version: .v5, topics: ["loop/#"], qos: 1)
            defer { device.cleanup() }
            let cloud = try await MosquittoSub.start(port: remote.port, version: .v5, topics: ["loop/#"], qos: 1)
            defer { cloud.cleanup() }
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "loop/a", message: "from-edge", qos: 1)
            _ = try await cloud.waitForMessage("the message at the remote") { $0.text == "from-edge" }
            // A sentinel from the remote comes in over the same link, after any echo would have.
            try await MosquittoPub.publish(port: remote.port, version: .v5, topic: "loop/z", message: "sentinel", qos: 1)
            let seen = try await device.waitForMessage("the sentinel at the device") { $0.text == "sentinel" }
            #expect(seen.map(\.text) == ["from-edge", "sentinel"], "\(edge.report)")
        }

        @Test("a mosquitto bridge with try_private connecting to Meridian gets no echo")
        func mosquittoBridgeIsNotEchoed() async throws {
            let meridian = try await BrokerProcess.started()
            defer { meridian.cleanup() }
            let mosquitto = try await BrokerProcess.started(kind: .mosquitto, options: [
                "connection to-meridian", "address 127.0.0.1:\(meridian.port)", "topic loop/# both 1",
                "try_private true", "cleansession true",
            ])
            defer { mosquitto.cleanup() }
            // Wait until the bridge is subscribed on Meridian: a message published there reaches mosquitto.
            let local = try await MosquittoSub.start(port: mosquitto.port, version: .v5, topics: ["loop/#"], qos: 1)
            defer { local.cleanup() }
            let deadline = ContinuousClock.now + .seconds(15)
            while !local.messages.contains(where: { $0.text == "probe" }) {
                guard ContinuousClock.now < deadline else {
                    Issue.record("the mosquitto bridge never forwarded a probe\n\(mosquitto.report)")
                    return
                }
                try await MosquittoPub.publish(port: meridian.port, version: .v5, topic: "loop/probe", message: "probe", qos: 1)
                try await Task.sleep(for: .milliseconds(200))
            }
            try await MosquittoPub.publish(port: mosquitto.port, version: .v5, topic: "loop/b", message: "from-mosquitto", qos: 1)
            try await MosquittoPub.publish(port: meridian.port, version: .v5, topic: "loop/z", message: "sentinel", qos: 1)
            let seen = try await local.waitForMessage("the sentinel") { $0.text == "sentinel" }
            #expect(seen.filter { $0.text == "from-mosquitto" }.count == 1, "\(seen.map(\.text))\n\(meridian.report)")
        }
    }
}
