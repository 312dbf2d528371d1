import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// `meridian-region` nodes on a real 3-member etcd cluster: membership, a taken name,
    /// leaving, and self-fencing when etcd loses its quorum.
    @Suite(.enabled(if: BrokerIntegration.isMeridian, "meridian-region only"))
    struct RegionClusterTests {
        /// One `meridian-region` process and its ports.
        final class Node {
            let name: String
            let mqttPort: Int
            let httpPort: Int
            let clusterPort: Int
            let configPath: String
            let directory: URL
            private(set) var process: RunningProcess

            /// - Parameter extra: further configuration lines (persistence, say).
            init(
                name: String, etcd: EtcdCluster, directory: URL, ttl: Int = 3, secret: String? = "integration-cluster-secret",
                clusterPort: Int? = nil, etcdEndpoints: [String]? = nil, extra: String = ""
            ) throws {
                self.name = name
                self.directory = directory
                mqttPort = try FreePort.allocate()
                httpPort = try FreePort.allocate()
                self.clusterPort = try clusterPort ?? FreePort.allocate()
                let config = """
                    listener \(mqttPort) 127.0.0.1
                    allow_anonymous true
                    http_listener \(httpPort) 127.0.0.1
                    cluster_name test
                    node_name \(name)
                    cluster_listener \(self.clusterPort) 127.0.0.1
                    \(secret.map { "cluster_secret \($0)" } ?? "")
                    etcd_endpoints \((etcdEndpoints ?? etcd.clientURLs).joined(separator: " "))
                    etcd_prefix /meridian-it
                    membership_ttl \(ttl)
                    \(extra)

                    """
                let path = directory.appendingPathComponent("\(name)-\(mqttPort).conf")
                try config.write(to: path, atomically: true, encoding: .utf8)
                configPath = path.path
                process = try RunningProcess(try TestPaths.meridianRegion(), ["--config", path.path], outputDirectory: directory, outputName: "\(name)-\(mqttPort)")
            }

            /// Starts the node again with the same configuration (after it stopped).
            func restart() throws {
                process.cleanup()
                process = try RunningProcess(
                    try TestPaths.meridianRegion(), ["--config", configPath], outputDirectory: directory, outputName: "\(name)-\(mqttPort)-again")
            }

            func get(_ path: String) async -> (ok: Bool, body: String) {
                guard let result = try? await ProcessRunner.run("curl", ["-s", "-m", "2", "-w", "\n%{http_code}", "http://127.0.0.1:\(httpPort)\(path)"], timeout: .seconds(5))
                else { return (false, "") }
                let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                return (lines.last == "200", lines.dropLast().joined(separator: "\n"))
            }

            /// The number of routes this node holds for other nodes (`GET /cluster`), or nil.
            func routes() async -> Int? {
                let body = await get("/cluster").body
                guard let range = body.range(of: #""routes":"#) else { return nil }
                return Int(body[range.upperBound...].prefix { $0.isNumber })
            }

            /// This node's incarnation (`GET /cluster`), or nil before it joined.
            func incarnation() async -> Int64? {
                let body = await get("/cluster").body
                guard let range = body.range(of: #""incarnation":"#) else { return nil }
                return Int64(body[range.upperBound...].prefix { $0.isNumber })
            }

            /// Whether this node's link to `peer` is up (`GET /cluster`).
            func linkUp(to peer: String) async -> Bool {
                await get("/cluster").body.contains(#"{"peer":"\#(peer)","up":true"#)
            }

            /// The session shards each node has claimed, as this node sees them (`GET /cluster`).
            func shardCounts() async -> [String: Int] {
                let body = await get("/cluster").body
                guard let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                    let shards = json["shards"] as? [String: Int]
                else { return [:] }
                return shards
            }

            /// Whether this node takes part in sessions (it serves clients): `GET /cluster`'s `sessions_ready`.
            func sessionsReady() async -> Bool {
                await get("/cluster").body.contains(#""sessions_ready":true"#)
            }

            /// The member names in this node's `GET /cluster`.
            func memberNames() async -> [String] {
                let body = await get("/cluster").body
                return body.components(separatedBy: #""name":""#).dropFirst().compactMap { $0.split(separator: "\"").first.map(String.init) }
            }
        }

        static func eventually(_ timeout: Duration, _ condition: () async -> Bool) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if await condition() { return true }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return await condition()
        }

        @Test("nodes join through etcd and see each other; a taken name stops start-up; a node that stops or dies leaves every member's view")
        func membership() async throws {
            let etcd = try await EtcdCluster(size: 3)
            defer { etcd.shutdown() }
            let directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-region")
            defer { try? FileManager.default.removeItem(at: directory) }
            let a = try Node(name: "node-a", etcd: etcd, directory: directory)
            defer { a.process.cleanup() }
            let b = try Node(name: "node-b", etcd: etcd, directory: directory)
            defer { b.process.cleanup() }
            #expect(await Self.eventually(.seconds(15)) { await a.memberNames() == ["node-a", "node-b"] })
            #expect(await Self.eventually(.seconds(2)) { await b.memberNames() == ["node-a", "node-b"] })
            #expect(await b.get("/readyz").ok)
            let metrics = await a.get("/metrics").body
            #expect(metrics.contains("meridian_cluster_nodes_alive 2") && metrics.contains("meridian_cluster_fenced 0"), "\(metrics)")
            let publish = try await ProcessRunner.run("mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(a.mqttPort)", "-V", "5", "-t", "t", "-m", "m"])
            #expect(publish.succeeded, "\(publish)")

            // A second live node named node-a: start-up stops with a clear message (after one TTL).
            let duplicate = try Node(name: "node-a", etcd: etcd, directory: directory)
            defer { duplicate.process.cleanup() }
            let exit = await duplicate.process.waitForExit(timeout: .seconds(15))
            #expect(exit == ProcessExit(reason: .exited, code: 1))
            #expect(duplicate.process.stderr.contains("a live node of this cluster already has this name"), "\(duplicate.process.stderr)")

            // SIGTERM: the node revokes its lease, and the other sees it leave within a second.
            _ = b.process.stop()
            #expect(await Self.eventually(.seconds(1)) { await a.memberNames() == ["node-a"] })

            // kill -9: its lease expires (TTL 3 s) and it leaves every view within TTL + 1 s.
            let c = try Node(name: "node-c", etcd: etcd, directory: directory)
            defer { c.process.cleanup() }
            #expect(await Self.eventually(.seconds(15)) { await a.memberNames() == ["node-a", "node-c"] })
            _ = c.process.kill9()
            let killed = ContinuousClock.now
            #expect(await Self.eventually(.seconds(5)) { await a.memberNames() == ["node-a"] })
            #expect(ContinuousClock.now - killed < .seconds(4))
        }

        @Test("without an etcd quorum a node fences itself within membership_ttl: /readyz 503, CONNECT refused (0x88), MQTT 5 clients sent elsewhere (DISCONNECT 0x9C); it serves again when the quorum returns")
        func fencing() async throws {
            let etcd = try await EtcdCluster(size: 3)
            defer { etcd.shutdown() }
            let directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-region")
            defer { try? FileManager.default.removeItem(at: directory) }
            let a = try Node(name: "node-a", etcd: etcd, directory: directory)
            defer { a.process.cleanup() }
            let b = try Node(name: "node-b", etcd: etcd, directory: directory)
            defer { b.process.cleanup() }
            #expect(await Self.eventually(.seconds(15)) {
                let members = await a.memberNames()
                let ready = await a.get("/readyz").ok
                return members == ["node-a", "node-b"] && ready
            })
            let subscriber = try ProcessRunner.start("stdbuf", ["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", "\(a.mqttPort)", "-V", "5", "-d", "-t", "x", "-i", "fence-watcher"])
            defer { subscriber.cleanup() }
            _ = try await subscriber.waitForStdout("SUBACK") { $0.contains("received SUBACK") }

            etcd.stop(member: 1)
            etcd.stop(member: 2)
            let lost = ContinuousClock.now
            #expect(await Self.eventually(.seconds(4)) { !(await a.get("/readyz").ok) })
            #expect(ContinuousClock.now - lost < .seconds(3))
            #expect(await a.get("/readyz").body.contains("cluster: fenced"))
            #expect(await a.get("/metrics").body.contains("meridian_cluster_fenced 1"))
            _ = try await subscriber.waitForStdout("DISCONNECT 0x9C") { $0.contains("Received DISCONNECT (156)") }
            // The Server Reference names the MQTT listener of the node it last saw alive.
            #expect(a.process.stderr.contains("server_reference=127.0.0.1:\(b.mqttPort)"), "\(a.process.stderr)")
            let refusedV5 = try await ProcessRunner.run("mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(a.mqttPort)", "-V", "5", "-t", "t", "-m", "m"])
            #expect(!refusedV5.succeeded && refusedV5.stderr.contains("Server unavailable"), "\(refusedV5)")
            let refusedV3 = try await ProcessRunner.run("mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(a.mqttPort)", "-V", "311", "-t", "t", "-m", "m"])
            #expect(!refusedV3.succeeded && refusedV3.stderr.contains("unavailable"), "\(refusedV3)")

            try etcd.start(member: 1)
            try etcd.start(member: 2)
            #expect(await Self.eventually(.seconds(30)) { await a.get("/readyz").ok })
            let accepted = try await ProcessRunner.run("mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(a.mqttPort)", "-V", "5", "-t", "t", "-m", "m"])
            #expect(accepted.succeeded, "\(accepted)")
        }

        @Test("TLS to etcd: a node with etcd_cafile, etcd_certfile and etcd_keyfile joins an etcd that requires client certificates; one without its certificate stops start-up with a clear message")
        func tlsToEtcd() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let etcd = try await EtcdCluster(
                size: 3, tls: .init(caFile: certificates.ca.certificate, server: certificates.serverAndClient, client: certificates.deviceA))
            defer { etcd.shutdown() }
            let directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-region")
            defer { try? FileManager.default.removeItem(at: directory) }
            let a = try Node(name: "node-a", etcd: etcd, directory: directory, extra: """
                etcd_cafile \(certificates.ca.certificate)
                etcd_certfile \(certificates.deviceA.certificate)
                etcd_keyfile \(certificates.deviceA.key)
                """)
            defer { a.process.cleanup() }
            #expect(await Self.eventually(.seconds(15)) { await a.get("/readyz").ok }, "\(a.process.stderr)")
            #expect(await a.memberNames() == ["node-a"])

            let b = try Node(name: "node-b", etcd: etcd, directory: directory, extra: "etcd_cafile \(certificates.ca.certificate)")
            defer { b.process.cleanup() }
            let exit = await b.process.waitForExit(timeout: .seconds(20))
            #expect(exit == ProcessExit(reason: .exited, code: 1))
            #expect(b.process.stderr.contains("cannot join cluster test through etcd"), "\(b.process.stderr)")
        }
    }
}
