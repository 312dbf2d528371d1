import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// Bridge links against a real `mosquitto` started by the test as the remote (standing in for
    /// the regional cluster), with mosquitto clients on both sides.
    @Suite("12 Bridges", .serialized, .enabled(if: BrokerIntegration.isMeridian, "bridges of meridian-edge"))
    struct BridgeTests {
        /// A remote mosquitto keeping its sessions across its own restarts (saved on SIGTERM).
        /// `user root`: started as root, mosquitto would otherwise drop to its own user and fail
        /// to write its database into the test's directory.
        static func startRemote() async throws -> BrokerProcess {
            try await BrokerProcess.started(kind: .mosquitto, options: ["persistence true", "user root"])
        }

        /// The edge, with persistence and one bridge block to `remote`.
        static func startEdge(remote: BrokerProcess, rules: [String], extra: [String] = []) async throws -> BrokerProcess {
            let block = ["persistence true", "connection uplink", "address 127.0.0.1:\(remote.port)",
                         "remote_clientid edge-uplink", "cleansession false", "restart_timeout 1 2", "keepalive_interval 5"]
                + rules.map { "topic \($0)" } + extra
            return try await BrokerProcess.started(options: block)
        }

        static func waitUntilBridgeConnected(_ edge: BrokerProcess, times: Int = 1) async throws {
            try await Helpers.waitUntil("the bridge connected \(times) time(s)", timeout: .seconds(20)) {
                edge.stderr.components(separatedBy: "[MeridianBridge] connected").count - 1 >= times
            }
        }

        @Test("outbound: messages published locally during an outage all arrive, in order, after the remote returns")
        func outageThenDrain() async throws {
            let remote = try await Self.startRemote()
            defer { remote.cleanup() }
            let remoteSubscriber = Helpers.unique("cloud-app")
            try await PersistentSessionTests.leaveSession(port: remote.port, version: .v311, clientID: remoteSubscriber, topic: "site1/telemetry/#")

            let edge = try await Self.startEdge(remote: remote, rules: ["telemetry/# out 1 \"\" site1/"])
            defer { edge.cleanup() }
            try await Self.waitUntilBridgeConnected(edge)

            try await MosquittoPub.publishLines(port: edge.port, version: .v5, topic: "telemetry/a", lines: ["before"], qos: 1)
            #expect(remote.stop() == .success)
            let outage = (1...50).map { "m\($0)" }
            try await MosquittoPub.publishLines(port: edge.port, version: .v311, topic: "telemetry/a", lines: outage, qos: 1)
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "telemetry/b", message: "q0-during-outage", qos: 0)
            try await remote.start()
            try await Self.waitUntilBridgeConnected(edge, times: 2)

            let sub = try await PersistentSessionTests.resume(port: remote.port, version: .v311, clientID: remoteSubscriber, topic: "site1/telemetry/#")
            defer { sub.cleanup() }
            let received = try await sub.waitForMessages(count: 51, timeout: .seconds(20))
            let onA = received.filter { $0.topic == "site1/telemetry/a" }.map(\.text)
            #expect(onA == ["before"] + outage, "\(edge.report)")
        }

        @Test("kill -9 of the edge during an outage loses nothing it acknowledged")
        func killDuringOutage() async throws {
            let remote = try await Self.startRemote()
            defer { remote.cleanup() }
            let remoteSubscriber = Helpers.unique("cloud-app")
            try await PersistentSessionTests.leaveSession(port: remote.port, version: .v311, clientID: remoteSubscriber, topic: "site1/#")

            let edge = try await Self.startEdge(remote: remote, rules: ["telemetry/# out 1 \"\" site1/"])
            defer { edge.cleanup() }
            try await Self.waitUntilBridgeConnected(edge)
            #expect(remote.stop() == .success)
            let lines = (1...100).map { "k\($0)" }
            try await MosquittoPub.publishLines(port: edge.port, version: .v5, topic: "telemetry/k", lines: lines, qos: 1)
            edge.kill9()
            try await edge.start()
            try await remote.start()
            try await Self.waitUntilBridgeConnected(edge)

            let sub = try await PersistentSessionTests.resume(port: remote.port, version: .v311, clientID: remoteSubscriber, topic: "site1/#")
            defer { sub.cleanup() }
            let received = try await sub.waitForMessages(count: lines.count, timeout: .seconds(20))
            #expect(received.map(\.text) == lines, "\(edge.report)")
        }

        @Test("inbound: a QoS 2 command from the remote reaches the local device exactly once")
        func inboundCommand() async throws {
            let remote = try await Self.startRemote()
            defer { remote.cleanup() }
            let edge = try await Self.startEdge(remote: remote, rules: ["cmd/# in 2 \"\" site1/"])
            defer { edge.cleanup() }
            try await Self.waitUntilBridgeConnected(edge)
            let device = try await MosquittoSub.start(port: edge.port, version: .v5, topics: ["cmd/#"], qos: 2)
            defer { device.cleanup() }
            // The bridge subscribes on the remote right after CONNACK: wait for the remote to have it.
            try await Task.sleep(for: .milliseconds(300))
            try await MosquittoPub.publish(port: remote.port, version: .v5, topic: "site1/cmd/valve", message: "open", qos: 2)
            let before = try await Helpers.messagesBeforeSentinel(device, port: edge.port, version: .v5, topic: "cmd/valve", qos: 2)
            #expect(before.map(\.text) == ["open"])
            #expect(before.map(\.topic) == ["cmd/valve"])
        }

        @Test("no loop: a message bridged in is not sent back out by a both rule")
        func noEcho() async throws {
            let remote = try await Self.startRemote()
            defer { remote.cleanup() }
            let edge = try await Self.startEdge(remote: remote, rules: ["shared/# both 1"])
            defer { edge.cleanup() }
            try await Self.waitUntilBridgeConnected(edge)
            let watcher = try await MosquittoSub.start(port: remote.port, version: .v5, topics: ["shared/#"], qos: 1)
            defer { watcher.cleanup() }
            try await Task.sleep(for: .milliseconds(300))
            try await MosquittoPub.publish(port: remote.port, version: .v5, topic: "shared/x", message: "from-cloud", qos: 1)
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "shared/y", message: "from-edge", qos: 1)
            _ = try await watcher.waitForMessages(count: 2, timeout: .seconds(10))
            // Everything the watcher got before a sentinel published after both: an echo would show twice.
            let before = try await Helpers.messagesBeforeSentinel(watcher, port: remote.port, version: .v5, topic: "shared/z")
            #expect(before.map(\.text).sorted() == ["from-cloud", "from-edge"], "\(edge.report)")
        }
    }
}
