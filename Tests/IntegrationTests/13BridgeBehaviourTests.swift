import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// Bridge behaviour beyond the basic flows of `12 Bridges`: retained messages across
    /// reconnects, outbox overflow, per-bridge quotas, address failover and a link that goes
    /// silent. Remotes are real `mosquitto` processes (`BridgeTests.startRemote`).
    @Suite("13 Bridge behaviour", .serialized, .enabled(if: BrokerIntegration.isMeridian, "bridges of meridian-edge"))
    struct BridgeBehaviourTests {
        /// One `connection` block: `name`, its addresses, `remote_clientid`, fast reconnects and
        /// the minimum keep-alive, its `topic` rules, then `extra`.
        static func block(_ name: String, ports: [Int], clientID: String, rules: [String], extra: [String] = []) -> [String] {
            ["connection \(name)", "address " + ports.map { "127.0.0.1:\($0)" }.joined(separator: " "),
             "remote_clientid \(clientID)", "cleansession false", "restart_timeout 1 2", "keepalive_interval 5"]
                + rules.map { "topic \($0)" } + extra
        }

        /// The edge with persistence, `general` options, then the bridge blocks.
        static func startEdge(general: [String] = [], blocks: [[String]]) async throws -> BrokerProcess {
            try await BrokerProcess.started(options: ["persistence true"] + general + blocks.flatMap { $0 })
        }

        /// `[MeridianBridge] connected` lines of bridge `name` (its log lines carry `bridge=<name>`).
        static func connections(_ edge: BrokerProcess, bridge name: String) -> Int {
            edge.stderr.split(separator: "\n").filter {
                $0.contains("bridge=\(name) ") && $0.contains("[MeridianBridge] connected")
            }.count
        }

        static func waitUntilConnected(_ edge: BrokerProcess, bridge name: String, times: Int) async throws {
            try await Helpers.waitUntil("bridge \(name) connected \(times) time(s)", timeout: .seconds(20)) {
                connections(edge, bridge: name) >= times
            }
        }

        /// Waits until the edge's `$SYS/broker/publish/messages/dropped` (`sys_interval 1`)
        /// reads `expected`, and returns the subscriber for later checks.
        static func waitForDropCount(_ edge: BrokerProcess, _ expected: Int) async throws -> MosquittoSub {
            let sys = try await MosquittoSub.start(port: edge.port, version: .v5, topics: ["$SYS/broker/publish/messages/dropped"])
            do {
                try await sys.waitForMessage("dropped = \(expected)", timeout: .seconds(5)) { $0.text == "\(expected)" }
            } catch {
                sys.cleanup()
                throw error
            }
            return sys
        }

        static func numbered(_ prefix: String, _ range: ClosedRange<Int>) -> [String] {
            range.map { "\(prefix)\($0)" }
        }

        // MARK: - 1. Retained messages across reconnects

        @Test("a retained message reaches the remote once across 20 reconnects; a change made while it is away is sent once")
        func retainedNotResent() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let clientID = Helpers.unique("edge-retain")
            let watcherID = Helpers.unique("cloud-watcher")
            // A persistent 3.1.1 subscriber, there before the first publish: it counts live deliveries.
            let watcher = try await MosquittoSub.start(
                port: remote.port, version: .v311, topics: ["site1/status/#"], qos: 1, clientID: watcherID, cleanSession: false)
            defer { watcher.cleanup() }

            let edge = try await Self.startEdge(blocks: [
                Self.block("uplink", ports: [remote.port], clientID: clientID, rules: ["status/# out 1 \"\" site1/"]),
            ])
            defer { edge.cleanup() }
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 1)

            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "status/door", message: "v1", qos: 1, retain: true)
            _ = try await watcher.waitForMessages(count: 1)

            // 20 reconnects: a client taking over the bridge's client id (keeping its session)
            // makes mosquitto close the bridge's connection; the bridge comes back each time.
            for round in 1...20 {
                let intruder = try RawMQTTClient(port: remote.port)
                try await intruder.connect(.v311, clientID: clientID, cleanStart: false)
                try intruder.send(RawPacket.disconnect(.v311))
                intruder.close()
                try await Self.waitUntilConnected(edge, bridge: "uplink", times: round + 1)
            }
            let before = try await Helpers.messagesBeforeSentinel(watcher, port: edge.port, version: .v5, topic: "status/sentinel")
            let door = before.filter { $0.topic == "site1/status/door" }
            #expect(door.map(\.text) == ["v1"], "retained message sent \(door.count) times across 20 reconnects\n\(edge.report)")

            // The value changes while the remote is away: the new one is sent once after it returns.
            watcher.cleanup()
            #expect(remote.stop() == .success)
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "status/door", message: "v2", qos: 1, retain: true)
            try await remote.start()
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 22)
            // Resumes the session without subscribing to status again (that would add the retained copy).
            let resumed = try await MosquittoSub.start(
                port: remote.port, version: .v311, topics: [Helpers.unique("other")], qos: 1, clientID: watcherID, cleanSession: false)
            defer { resumed.cleanup() }
            let after = try await Helpers.messagesBeforeSentinel(resumed, port: edge.port, version: .v5, topic: "status/sentinel")
            #expect(after.filter { $0.topic == "site1/status/door" }.map(\.text) == ["v2"], "\(edge.report)")

            // And the remote keeps v2 as its retained value.
            let fresh = try await MosquittoSub.start(port: remote.port, version: .v311, topics: ["site1/status/door"], qos: 1)
            defer { fresh.cleanup() }
            let retained = try await fresh.waitForMessages(count: 1)
            #expect(retained.map(\.text) == ["v2"])
            #expect(retained.map(\.retain) == [true])
        }

        // MARK: - 2. Outbox overflow

        /// With the remote down, the bridge's outbox is its local session: `drain_max_inflight`
        /// messages are handed to the bridge (its window, held until the remote acknowledges
        /// them, never dropped) and `max_queued_messages` more wait in the session queue, where
        /// `queue_overflow` decides which go. With a window of 1 and a queue of 10, of 30
        /// messages: drop-newest keeps 1...11; drop-oldest keeps 1 (in the window) and 21...30.
        @Test("queue_overflow keeps exactly the expected messages and counts the drops", arguments: ["drop-newest", "drop-oldest"])
        func overflowSurvivors(policy: String) async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let subscriberID = Helpers.unique("cloud-app")
            try await PersistentSessionTests.leaveSession(port: remote.port, version: .v311, clientID: subscriberID, topic: "site1/#")

            let edge = try await Self.startEdge(general: ["sys_interval 1"], blocks: [
                Self.block("uplink", ports: [remote.port], clientID: Helpers.unique("edge-overflow"),
                           rules: ["seq/# out 1 \"\" site1/"],
                           extra: ["max_queued_messages 10", "drain_max_inflight 1", "queue_overflow \(policy)"]),
            ])
            defer { edge.cleanup() }
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 1)
            #expect(remote.stop() == .success)

            let published = Self.numbered("n", 1...30)
            try await MosquittoPub.publishLines(port: edge.port, version: .v311, topic: "seq/a", lines: published, qos: 1)
            let expected = policy == "drop-newest" ? Self.numbered("n", 1...11) : ["n1"] + Self.numbered("n", 21...30)
            let sys = try await Self.waitForDropCount(edge, 30 - expected.count)
            defer { sys.cleanup() }
            // The bridge's own figures count them too, by reason.
            let perBridge = try await MosquittoSub.start(port: edge.port, version: .v5, topics: ["$SYS/broker/bridge/uplink/messages/dropped/#"])
            defer { perBridge.cleanup() }
            _ = try await perBridge.waitForMessage("per-bridge queue_full drops") {
                $0.topic.hasSuffix("/dropped/queue_full") && $0.text == "\(30 - expected.count)"
            }
            #expect(perBridge.messages.last { $0.topic.hasSuffix("/dropped/too_large") }?.text == "0")

            try await remote.start()
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 2)
            let sub = try await PersistentSessionTests.resume(port: remote.port, version: .v311, clientID: subscriberID, topic: "site1/#")
            defer { sub.cleanup() }
            // The outbox drains completely before the sentinel, which must not meet a full queue.
            _ = try await sub.waitForMessages(count: expected.count, timeout: .seconds(20))
            let before = try await Helpers.messagesBeforeSentinel(sub, port: edge.port, version: .v5, topic: "seq/a")
            #expect(before.map(\.text) == expected, "\(edge.report)")
            // No further drop was counted after the remote returned (the next $SYS update).
            let updates = sys.messages.count
            try await sys.waitForMessages(count: updates + 1, timeout: .seconds(5))
            #expect(sys.messages.last?.text == "\(30 - expected.count)")
        }

        // MARK: - 3. Quotas per bridge

        @Test("a bridge whose remote is down drops at its own bound while another bridge delivers everything")
        func quotasAreIndependent() async throws {
            let downRemote = try await BridgeTests.startRemote()
            defer { downRemote.cleanup() }
            let downSubscriber = Helpers.unique("cloud-a")
            try await PersistentSessionTests.leaveSession(port: downRemote.port, version: .v311, clientID: downSubscriber, topic: "siteA/#")
            #expect(downRemote.stop() == .success)
            let upRemote = try await BridgeTests.startRemote()
            defer { upRemote.cleanup() }

            // Both bridges carry the same local topic; only "bounded" has a quota (window 1 + queue 5).
            let edge = try await Self.startEdge(general: ["sys_interval 1"], blocks: [
                Self.block("bounded", ports: [downRemote.port], clientID: Helpers.unique("edge-a"),
                           rules: ["telemetry/# out 1 \"\" siteA/"],
                           extra: ["max_queued_messages 5", "drain_max_inflight 1", "queue_overflow drop-newest"]),
                Self.block("unbounded", ports: [upRemote.port], clientID: Helpers.unique("edge-b"),
                           rules: ["telemetry/# out 1 \"\" siteB/"]),
            ])
            defer { edge.cleanup() }
            try await Self.waitUntilConnected(edge, bridge: "unbounded", times: 1)
            let upSubscriber = try await MosquittoSub.start(port: upRemote.port, version: .v311, topics: ["siteB/#"], qos: 1)
            defer { upSubscriber.cleanup() }

            let published = Self.numbered("t", 1...40)
            try await MosquittoPub.publishLines(port: edge.port, version: .v311, topic: "telemetry/x", lines: published, qos: 1)
            let received = try await upSubscriber.waitForMessages(count: published.count, timeout: .seconds(20))
            #expect(received.map(\.text) == published, "\(edge.report)")
            let sys = try await Self.waitForDropCount(edge, 40 - 6)
            defer { sys.cleanup() }
            #expect(Self.connections(edge, bridge: "bounded") == 0)

            // The bounded bridge delivers what it kept once its remote returns.
            try await downRemote.start()
            try await Self.waitUntilConnected(edge, bridge: "bounded", times: 1)
            let sub = try await PersistentSessionTests.resume(port: downRemote.port, version: .v311, clientID: downSubscriber, topic: "siteA/#")
            defer { sub.cleanup() }
            _ = try await sub.waitForMessages(count: 6, timeout: .seconds(20))
            let before = try await Helpers.messagesBeforeSentinel(sub, port: edge.port, version: .v5, topic: "telemetry/x")
            #expect(before.map(\.text) == Self.numbered("t", 1...6), "\(edge.report)")
        }

        // MARK: - 4. Address failover

        @Test("address failover: a dead primary leads to the secondary; when the secondary goes, back to the primary")
        func addressFailover() async throws {
            // The primary's port is chosen but nothing listens on it yet.
            let primary = try BrokerProcess(kind: .mosquitto, options: ["persistence true", "user root"])
            defer { primary.cleanup() }
            let secondary = try await BridgeTests.startRemote()
            defer { secondary.cleanup() }

            let edge = try await Self.startEdge(blocks: [
                Self.block("uplink", ports: [primary.port, secondary.port], clientID: Helpers.unique("edge-failover"),
                           rules: ["telemetry/# out 1 \"\" site1/"]),
            ])
            defer { edge.cleanup() }
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 1)
            let onSecondary = try await MosquittoSub.start(port: secondary.port, version: .v311, topics: ["site1/#"], qos: 1)
            defer { onSecondary.cleanup() }
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "telemetry/f", message: "via-secondary", qos: 1)
            #expect(try await onSecondary.waitForMessages(count: 1).map(\.text) == ["via-secondary"], "\(edge.report)")

            // The primary comes up; the secondary goes away: round_robin false goes back to the primary.
            try await primary.start()
            let onPrimary = try await MosquittoSub.start(port: primary.port, version: .v311, topics: ["site1/#"], qos: 1)
            defer { onPrimary.cleanup() }
            onSecondary.cleanup()
            #expect(secondary.stop() == .success)
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 2)
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "telemetry/f", message: "via-primary", qos: 1)
            #expect(try await onPrimary.waitForMessages(count: 1).map(\.text) == ["via-primary"], "\(edge.report)")
            let before = try await Helpers.messagesBeforeSentinel(onPrimary, port: edge.port, version: .v5, topic: "telemetry/f")
            #expect(before.map(\.text) == ["via-primary"])
        }

        @Test("round_robin false: connected to the secondary, the bridge switches back once the primary answers CONNECT")
        func returnToPrimaryWhileConnected() async throws {
            let primary = try BrokerProcess(kind: .mosquitto, options: ["persistence true", "user root"])
            defer { primary.cleanup() }
            let secondary = try await BridgeTests.startRemote()
            defer { secondary.cleanup() }
            let edge = try await Self.startEdge(blocks: [
                Self.block("uplink", ports: [primary.port, secondary.port], clientID: Helpers.unique("edge-return"),
                           rules: ["telemetry/# out 1 \"\" site1/"]),
            ])
            defer { edge.cleanup() }
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 1)
            let onSecondary = try await MosquittoSub.start(port: secondary.port, version: .v311, topics: ["site1/#"], qos: 1)
            defer { onSecondary.cleanup() }
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "telemetry/r", message: "via-secondary", qos: 1)
            #expect(try await onSecondary.waitForMessages(count: 1).map(\.text) == ["via-secondary"], "\(edge.report)")

            // The primary comes up while the secondary stays up: the bridge goes back to the primary.
            try await primary.start()
            let onPrimary = try await MosquittoSub.start(port: primary.port, version: .v311, topics: ["site1/#"], qos: 1)
            defer { onPrimary.cleanup() }
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 2)
            #expect(edge.stderr.contains("switching back to it"), "\(edge.report)")
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "telemetry/r", message: "via-primary", qos: 1)
            #expect(try await onPrimary.waitForMessages(count: 1).map(\.text) == ["via-primary"], "\(edge.report)")
            let stillOnSecondary = try await Helpers.messagesBeforeSentinel(onSecondary, port: secondary.port, version: .v5, topic: "site1/x")
            #expect(stillOnSecondary.map(\.text) == ["via-secondary"], "nothing more went to the secondary")
        }

        // MARK: - 5. A link that goes silent

        /// `Scripts/freeze_proxy.py` between the bridge and the remote, and the file that freezes it.
        final class FreezeProxy {
            let port: Int
            let controlFile: URL
            let dropFile: URL
            let process: RunningProcess

            init(target: Int) async throws {
                port = try FreePort.allocate()
                controlFile = FileManager.default.temporaryDirectory.appendingPathComponent(Helpers.unique("freeze"))
                dropFile = FileManager.default.temporaryDirectory.appendingPathComponent(Helpers.unique("drop-replies"))
                let script = try PahoScript.directory.appendingPathComponent("freeze_proxy.py").path
                process = try RunningProcess("python3", [
                    script, "--listen", "\(port)", "--target", "\(target)", "--control-file", controlFile.path,
                    "--drop-replies-file", dropFile.path,
                ])
                do {
                    try await process.waitForStdout("freeze_proxy ready") { $0.contains("ready") }
                } catch {
                    process.cleanup()
                    throw error
                }
            }

            func freeze() async throws {
                _ = FileManager.default.createFile(atPath: controlFile.path, contents: nil)
                try await process.waitForStdout("freeze_proxy frozen") { $0.contains("frozen") }
            }

            func thaw() async throws {
                try FileManager.default.removeItem(at: controlFile)
                try await process.waitForStdout("freeze_proxy thawed") { $0.contains("thawed") }
            }

            /// From now on what the target sends is lost; what clients send still reaches it.
            func dropReplies() async throws {
                _ = FileManager.default.createFile(atPath: dropFile.path, contents: nil)
                try await process.waitForStdout("freeze_proxy dropping replies") { $0.contains("dropping replies") }
            }

            func forwardReplies() async throws {
                try FileManager.default.removeItem(at: dropFile)
                try await process.waitForStdout("freeze_proxy forwarding replies") { $0.contains("forwarding replies") }
            }

            func cleanup() {
                process.cleanup()
                try? FileManager.default.removeItem(at: controlFile)
                try? FileManager.default.removeItem(at: dropFile)
            }
        }

        @Test("a link that goes silent mid-drain without a reset is detected at 1.5 x keepalive; every message arrives")
        func silentLink() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let proxy = try await FreezeProxy(target: remote.port)
            defer { proxy.cleanup() }
            let watcher = try await MosquittoSub.start(port: remote.port, version: .v311, topics: ["site1/#"], qos: 1)
            defer { watcher.cleanup() }

            let edge = try await Self.startEdge(blocks: [
                Self.block("uplink", ports: [proxy.port], clientID: Helpers.unique("edge-silent"),
                           rules: ["telemetry/# out 1 \"\" site1/"]),
            ])
            defer { edge.cleanup() }
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 1)

            let first = Self.numbered("s", 1...10)
            try await MosquittoPub.publishLines(port: edge.port, version: .v311, topic: "telemetry/s", lines: first, qos: 1)
            _ = try await watcher.waitForMessages(count: first.count)

            // The link goes silent: nothing passes and nothing is closed. What is published now is
            // sent into it and never acknowledged.
            try await proxy.freeze()
            let frozenAt = ContinuousClock.now
            let second = Self.numbered("s", 11...20)
            try await MosquittoPub.publishLines(port: edge.port, version: .v311, topic: "telemetry/s", lines: second, qos: 1)
            // keepalive 5: silent for 7.5 s, noticed at the next 2.5 s check.
            try await Helpers.waitUntil("the bridge to notice the silent link", timeout: .seconds(11)) {
                edge.stderr.contains("remote silent")
            }
            let detectedAfter = ContinuousClock.now - frozenAt
            #expect(detectedAfter >= .milliseconds(7_000), "dead link declared after only \(detectedAfter)")
            try await proxy.thaw()
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 2)

            _ = try await watcher.waitForMessages(count: first.count + second.count, timeout: .seconds(10))
            let before = try await Helpers.messagesBeforeSentinel(watcher, port: edge.port, version: .v5, topic: "telemetry/s")
            #expect(before.map(\.text) == first + second, "\(edge.report)\n\(proxy.process.report)")
        }

        @Test("a remote that accepts the connection but never answers CONNECT is given up, and the next address used")
        func silentRemoteDuringConnect() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            // Frozen from the start: its port completes the TCP handshake, nothing ever answers.
            let proxy = try await FreezeProxy(target: remote.port)
            defer { proxy.cleanup() }
            try await proxy.freeze()

            let edge = try await Self.startEdge(blocks: [
                Self.block("uplink", ports: [proxy.port, remote.port], clientID: Helpers.unique("edge-tarpit"),
                           rules: ["telemetry/# out 1 \"\" site1/"]),
            ])
            defer { edge.cleanup() }
            // keepalive 5: no CONNACK within 1.5 x keepalive is a dead link, as after CONNACK.
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 1)
            let watcher = try await MosquittoSub.start(port: remote.port, version: .v311, topics: ["site1/#"], qos: 1)
            defer { watcher.cleanup() }
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "telemetry/t", message: "through", qos: 1)
            #expect(try await watcher.waitForMessages(count: 1).map(\.text) == ["through"])
        }

        /// `queue_qos0 true`: QoS 0 messages wait in the outbox while the link is down, under the
        /// same `max_queued_messages` and `queue_overflow` (they take no window slot: the bridge
        /// takes them from its session at once). The remote queues QoS 0 for the offline
        /// subscriber (`queue_qos0_messages true`) so that it sees what the bridge sends.
        @Test("queue_qos0: QoS 0 messages of an outage obey max_queued_messages and queue_overflow, drops counted",
              arguments: ["drop-newest", "drop-oldest"])
        func overflowQoS0(policy: String) async throws {
            let remote = try await BrokerProcess.started(kind: .mosquitto, options: ["persistence true", "user root", "queue_qos0_messages true"])
            defer { remote.cleanup() }
            let subscriberID = Helpers.unique("cloud-app")
            try await PersistentSessionTests.leaveSession(port: remote.port, version: .v311, clientID: subscriberID, topic: "site1/#")

            let edge = try await Self.startEdge(general: ["sys_interval 1"], blocks: [
                Self.block("uplink", ports: [remote.port], clientID: Helpers.unique("edge-q0"),
                           rules: ["seq/# out 1 \"\" site1/"],
                           extra: ["max_queued_messages 10", "queue_qos0 true", "queue_overflow \(policy)"]),
            ])
            defer { edge.cleanup() }
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 1)
            #expect(remote.stop() == .success)

            let published = Self.numbered("z", 1...30)
            try await MosquittoPub.publishLines(port: edge.port, version: .v311, topic: "seq/q0", lines: published, qos: 0)
            let expected = policy == "drop-newest" ? Self.numbered("z", 1...10) : Self.numbered("z", 21...30)
            try await remote.start()
            try await Self.waitUntilConnected(edge, bridge: "uplink", times: 2)
            let sub = try await PersistentSessionTests.resume(port: remote.port, version: .v311, clientID: subscriberID, topic: "site1/#")
            defer { sub.cleanup() }
            let before = try await Helpers.messagesBeforeSentinel(sub, port: edge.port, version: .v5, topic: "seq/q0")
            #expect(before.map(\.text) == expected, "\(edge.report)")
            // Never silent: the 20 drops are counted.
            let sys = try await MosquittoSub.start(port: edge.port, version: .v5, topics: ["$SYS/broker/publish/messages/dropped"])
            defer { sys.cleanup() }
            let counts = try await sys.waitForMessages(count: 2, timeout: .seconds(5))
            #expect(counts.last?.text == "20", "drops counted: \(counts.map(\.text))")
        }
    }
}
