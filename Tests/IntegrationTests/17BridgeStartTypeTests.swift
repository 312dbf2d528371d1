import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("17 Bridge start types", .serialized, .enabled(if: BrokerIntegration.isMeridian, "bridges of meridian-edge"))
    struct BridgeStartTypeTests {
        typealias B = BridgeBehaviourTests

        @Test("start_type lazy: connects at threshold queued messages, disconnects after idle_timeout")
        func lazy() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let edge = try await B.startEdge(blocks: [
                B.block("uplink", ports: [remote.port], clientID: Helpers.unique("edge-lazy"), rules: ["l/# out 1"],
                        extra: ["start_type lazy", "threshold 5", "idle_timeout 2"]),
            ])
            defer { edge.cleanup() }
            let watcher = try await MosquittoSub.start(port: remote.port, version: .v311, topics: ["l/#"], qos: 1)
            defer { watcher.cleanup() }
            try await MosquittoPub.publishLines(port: edge.port, version: .v5, topic: "l/x", lines: B.numbered("l", 1...4), qos: 1)
            // Below the threshold nothing connects: a sentinel on the remote arrives alone.
            try await Task.sleep(for: .milliseconds(1_500))
            #expect(B.connections(edge, bridge: "uplink") == 0)
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "l/x", message: "l5", qos: 1)
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 1)
            let received = try await watcher.waitForMessages(count: 5, timeout: .seconds(10))
            #expect(received.map(\.text) == B.numbered("l", 1...5))
            try await Helpers.waitUntil("the idle disconnect", timeout: .seconds(10)) { edge.stderr.contains("idle for 2 s, disconnecting") }
        }

        @Test("start_type once: the bridge is not restarted after its connection fails")
        func once() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let edge = try await B.startEdge(blocks: [
                B.block("uplink", ports: [remote.port], clientID: Helpers.unique("edge-once"), rules: ["o/# out 1"],
                        extra: ["start_type once"]),
            ])
            defer { edge.cleanup() }
            try await B.waitUntilConnected(edge, bridge: "uplink", times: 1)
            #expect(remote.stop() == .success)
            try await Helpers.waitUntil("the no-restart notice", timeout: .seconds(10)) { edge.stderr.contains("not restarted") }
            try await remote.start()
            try await Task.sleep(for: .milliseconds(2_500))
            #expect(B.connections(edge, bridge: "uplink") == 1)
        }
    }
}
