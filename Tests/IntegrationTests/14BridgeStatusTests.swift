import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("14 Bridge status", .serialized, .enabled(if: BrokerIntegration.isMeridian, "bridges of meridian-edge"))
    struct BridgeStatusTests {
        @Test("$SYS/broker/bridge/<name>/... shows the link state and the backlog of an outage")
        func statusFigures() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let edge = try await BridgeTests.startEdge(
                remote: remote, rules: ["telemetry/# out 1 \"\" site1/"], extra: ["sys_interval 1"])
            defer { edge.cleanup() }
            try await BridgeTests.waitUntilBridgeConnected(edge)

            let status = try await MosquittoSub.start(port: edge.port, version: .v5, topics: ["$SYS/broker/bridge/uplink/#"])
            defer { status.cleanup() }
            _ = try await status.waitForMessage("connected = 1") {
                $0.topic == "$SYS/broker/bridge/uplink/connected" && $0.text == "1"
            }
            #expect(remote.stop() == .success)
            let beforePublishing = ContinuousClock.now
            try await MosquittoPub.publishLines(port: edge.port, version: .v5, topic: "telemetry/s", lines: (1...5).map { "s\($0)" }, qos: 1)
            _ = try await status.waitForMessage("connected = 0 with 5 queued") { _ in
                let all = status.messages
                let connected = all.last { $0.topic == "$SYS/broker/bridge/uplink/connected" }?.text
                let queued = all.last { $0.topic == "$SYS/broker/bridge/uplink/queued/messages" }?.text
                return connected == "0" && queued == "5"
            }
            // The oldest waiting message ages with the outage, counted from when it was accepted.
            let aged = try await status.waitForMessage("oldest_age of at least 2 s", timeout: .seconds(10)) {
                $0.topic == "$SYS/broker/bridge/uplink/queued/oldest_age" && (Int($0.text) ?? 0) >= 2
            }
            let age = Int(aged.last { $0.topic.hasSuffix("/oldest_age") }!.text)!
            let bound = (ContinuousClock.now - beforePublishing).components.seconds + 1
            #expect(age <= bound, "oldest_age \(age) s, but the first message was published at most \(bound) s ago")
            try await remote.start()
            _ = try await status.waitForMessage("drained: connected = 1, nothing queued, oldest_age 0") { _ in
                let all = status.messages
                let connected = all.last { $0.topic == "$SYS/broker/bridge/uplink/connected" }?.text
                let queued = all.last { $0.topic == "$SYS/broker/bridge/uplink/queued/messages" }?.text
                let age = all.last { $0.topic == "$SYS/broker/bridge/uplink/queued/oldest_age" }?.text
                return connected == "1" && queued == "0" && age == "0"
            }
        }
    
        @Test("SIGHUP reloads bridge blocks without losing their queues")
        func reloadKeepsQueue() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let app = Helpers.unique("cloud-app")
            try await PersistentSessionTests.leaveSession(port: remote.port, version: .v311, clientID: app, topic: "#")
            let edge = try await BridgeTests.startEdge(remote: remote, rules: ["a/# out 1 \"\" site1/"])
            defer { edge.cleanup() }
            try await BridgeTests.waitUntilBridgeConnected(edge)

            #expect(remote.stop() == .success)
            try await MosquittoPub.publishLines(port: edge.port, version: .v5, topic: "a/x", lines: ["r1", "r2", "r3"], qos: 1)
            // The same bridge with a new remote prefix: queued messages are mapped when they are sent.
            let reloaded = edge.configText.replacingOccurrences(of: "site1/", with: "site2/")
            try Data(reloaded.utf8).write(to: edge.configFile)
            kill(edge.pid!, SIGHUP)
            try await Helpers.waitUntil("the reload", timeout: .seconds(10)) { edge.stderr.contains("configuration reloaded") }
            try await remote.start()
            try await BridgeTests.waitUntilBridgeConnected(edge, times: 2)

            let sub = try await PersistentSessionTests.resume(port: remote.port, version: .v311, clientID: app, topic: "#")
            defer { sub.cleanup() }
            let received = try await sub.waitForMessages(count: 3, timeout: .seconds(15))
            #expect(received.map(\.text) == ["r1", "r2", "r3"], "\(edge.report)")
            #expect(received.map(\.topic) == ["site2/a/x", "site2/a/x", "site2/a/x"])
        }
    }
}
