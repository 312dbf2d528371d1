import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("20 Health and readiness", .serialized, .enabled(if: BrokerIntegration.isMeridian, "http_listener is a Meridian option"))
    struct HealthTests {
        static func started(_ options: [String]) async throws -> (BrokerProcess, http: Int) {
            let http = try FreePort.allocate()
            let broker = try await BrokerProcess.started(options: ["http_listener \(http) 127.0.0.1"] + options)
            return (broker, http)
        }

        @Test("a running broker with its store is healthy and ready; other paths are 404, other methods 405")
        func healthyAndReady() async throws {
            let (broker, http) = try await Self.started(["persistence true"])
            defer { broker.cleanup() }
            let health = try await HTTPProbe.get(port: http, "/healthz")
            #expect(health.status == 200, "\(health)")
            #expect(health.body.hasPrefix("ok\n"))
            #expect(health.body.contains("store: writable"))
            let ready = try await HTTPProbe.get(port: http, "/readyz")
            #expect(ready.status == 200, "\(ready)")
            #expect(ready.body.contains("listeners: up"))
            #expect(ready.body.contains("store: open"))
            #expect(try await HTTPProbe.get(port: http, "/healthz?verbose=1").status == 200)
            #expect(try await HTTPProbe.get(port: http, "/nothing").status == 404)
            #expect(try await HTTPProbe.get(port: http, "/healthz", method: "POST").status == 405)
            try await Helpers.expectBrokerServesOthers(broker)
        }

        @Test("when a commit fails (file-size limit), /healthz and /readyz answer 503 and say why")
        func unwritableStore() async throws {
            let http = try FreePort.allocate()
            let broker = try BrokerProcess(options: ["http_listener \(http) 127.0.0.1", "persistence true", "persistence_min_free 0"])
            defer { broker.cleanup() }
            broker.fileSizeLimitBlocks = 2_048  // 1 MiB per file
            try await broker.start()
            #expect(try await HTTPProbe.get(port: http, "/healthz").status == 200)
            let topic = Helpers.unique("unwritable")
            try await DurabilityTests.leaveSession(port: broker.port, clientID: Helpers.unique("away"), topics: [topic], qos: 1)
            let publisher = try RawMQTTClient(port: broker.port)
            try await publisher.connect(.v5, clientID: Helpers.unique("filler"))
            let (_, refusal) = try await DurabilityTests.fillStore(
                publisher, version: .v5, broker: broker, topic: topic, size: DurabilityTests.largeSize, limit: 40)
            _ = try #require(refusal, "the store took 40 messages of 64 KB under a 1 MiB limit\n\(broker.report)")
            publisher.close()

            let health = try await HTTPProbe.get(port: http, "/healthz")
            #expect(health.status == 503, "\(health)")
            #expect(health.body.contains("store: not writable"))
            let ready = try await HTTPProbe.get(port: http, "/readyz")
            #expect(ready.status == 503, "\(ready)")
            #expect(ready.body.contains("not writable"))
            let samples = try await HTTPProbe.scrape(port: http)
            #expect(samples["meridian_store_commit_failures_total"].map { $0 >= 1 } == true)
            #expect(samples["meridian_messages_refused_total"].map { $0 >= 1 } == true)
        }

        @Test("below the persistence_min_free floor, /healthz and /readyz answer 503")
        func diskFloor() async throws {
            let (broker, http) = try await Self.started(["persistence true", "persistence_min_free 1000000000000000000"])
            defer { broker.cleanup() }
            let deadline = ContinuousClock.now + .seconds(10)
            var health = try await HTTPProbe.get(port: http, "/healthz")
            while health.status != 503 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                health = try await HTTPProbe.get(port: http, "/healthz")
            }
            #expect(health.status == 503, "\(health)")
            #expect(health.body.contains("below the persistence_min_free floor"))
            #expect(try await HTTPProbe.get(port: http, "/readyz").status == 503)
            #expect(try await HTTPProbe.scrape(port: http)["meridian_store_disk_low"] == 1)
        }

        @Test("a disconnected bridge makes /readyz fail only with ready_requires_bridge true", arguments: [false, true])
        func bridgeReadiness(required: Bool) async throws {
            let nowhere = try FreePort.allocate()
            let (broker, http) = try await Self.started([
                "ready_requires_bridge \(required)",
                "connection uplink", "address 127.0.0.1:\(nowhere)", "topic up/# out 1",
            ])
            defer { broker.cleanup() }
            let ready = try await HTTPProbe.get(port: http, "/readyz")
            #expect(ready.status == (required ? 503 : 200), "\(ready)")
            #expect(ready.body.contains("bridge uplink: not connected"))
            #expect(try await HTTPProbe.get(port: http, "/healthz").status == 200)
        }

        @Test("with ready_requires_bridge true, /readyz follows the link: ready while connected, not after the remote stops, ready again when a reload removes the bridge")
        func readinessFollowsBridge() async throws {
            let remote = try await BridgeTests.startRemote()
            defer { remote.cleanup() }
            let http = try FreePort.allocate()
            let settings = ["http_listener \(http) 127.0.0.1", "ready_requires_bridge true"]
            let edge = try await BridgeTests.startEdge(remote: remote, rules: ["a/# out 1"], extra: settings)
            defer { edge.cleanup() }
            try await BridgeTests.waitUntilBridgeConnected(edge)
            #expect(try await Self.waitForReadiness(port: http, status: 200).body.contains("bridge uplink: connected\n"))

            try await MosquittoPub.publishLines(port: edge.port, version: .v5, topic: "a/x", lines: ["f1", "f2"], qos: 1)
            let samples = try await HTTPProbe.scrape(port: http, until: "two messages forwarded") {
                $0["meridian_bridge_forwarded_messages_total{bridge=\"uplink\"}"] == 2
            }
            #expect(samples["meridian_bridge_connected{bridge=\"uplink\"}"] == 1)
            #expect(samples["meridian_bridge_oldest_queued_message_age_seconds{bridge=\"uplink\"}"] == 0)

            #expect(remote.stop() == .success)
            let down = try await Self.waitForReadiness(port: http, status: 503)
            #expect(down.body.contains("bridge uplink: not connected\n"), "\(down)")
            #expect(try await HTTPProbe.get(port: http, "/healthz").status == 200)

            // The same file without the bridge block: the reload stops the bridge, and nothing is required any more.
            let lines = edge.configText.split(separator: "\n").map(String.init)
            let kept = Array(lines.prefix { $0 != "connection uplink" }) + settings
            try Data((kept.joined(separator: "\n") + "\n").utf8).write(to: edge.configFile)
            kill(edge.pid!, SIGHUP)
            let after = try await Self.waitForReadiness(port: http, status: 200)
            #expect(!after.body.contains("bridge uplink"), "\(after)")
            #expect(try await HTTPProbe.scrape(port: http)["meridian_bridge_connected{bridge=\"uplink\"}"] == nil)
        }

        /// Polls `/readyz` until it answers `status`, at most 20 s.
        static func waitForReadiness(port: Int, status: Int) async throws -> HTTPProbe.Response {
            let deadline = ContinuousClock.now + .seconds(20)
            while true {
                let response = try await HTTPProbe.get(port: port, "/readyz")
                if response.status == status { return response }
                if ContinuousClock.now >= deadline { throw WaitTimeout("/readyz \(status) within 20 s", details: "\(response)") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        @Test("with NOTIFY_SOCKET set, the broker sends READY=1 once it serves (systemd Type=notify)")
        func systemdNotify() async throws {
            let http = try FreePort.allocate()
            let broker = try BrokerProcess(options: ["http_listener \(http) 127.0.0.1"])
            defer { broker.cleanup() }
            let socket = broker.directory.appendingPathComponent("notify.sock").path
            let listener = try ProcessRunner.start("python3", ["-c", """
                import socket, sys
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                s.bind(sys.argv[1]); s.settimeout(20)
                print(s.recv(4096).decode(), flush=True)
                """, socket])
            defer { listener.cleanup() }
            try await Helpers.waitUntil("the notify socket", timeout: .seconds(10)) { FileManager.default.fileExists(atPath: socket) }
            let edge = try RunningProcess(
                "env", ["NOTIFY_SOCKET=\(socket)", try TestPaths.meridianEdge(), "--config", broker.configFile.path],
                outputDirectory: broker.directory, outputName: "notified")
            defer { edge.cleanup() }
            let exit = await listener.waitForExit(timeout: .seconds(20))
            #expect(exit == .success, "\(listener.stderr)\n\(edge.stderr)")
            #expect(listener.stdout.contains("READY=1"), "\(listener.stdout)")
            // Ready means serving: the HTTP endpoint answers at once.
            #expect(try await HTTPProbe.get(port: http, "/readyz").status == 200)
        }
    }
}
