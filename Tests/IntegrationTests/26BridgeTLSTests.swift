import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// The bridge's TLS link to a real `mosquitto` TLS listener that requires client certificates:
    /// CA and host name verification by default, `bridge_insecure` for the host name only, mTLS.
    @Suite("26 Bridge TLS", .serialized, .enabled(if: BrokerIntegration.isMeridian, "bridges of meridian-edge"))
    struct BridgeTLSTests {
        /// A mosquitto remote with its plain test listener and a TLS listener on `tlsPort` that
        /// presents `server` and requires a client certificate signed by the test CA.
        static func startRemote(_ certificates: TestCertificates, tlsPort: Int, server: TestCertificates.Pair) async throws -> BrokerProcess {
            try await BrokerProcess.started(kind: .mosquitto, options: [
                // Started as root, mosquitto would drop to its own user, which cannot read the test's files.
                "user root",
                "listener \(tlsPort) 127.0.0.1",
                "cafile \(certificates.ca.certificate)",
                "certfile \(server.certificate)",
                "keyfile \(server.key)",
                "require_certificate true",
            ])
        }

        /// The edge with one outbound bridge to the remote's TLS listener.
        static func startEdge(_ certificates: TestCertificates, tlsPort: Int, extra: [String] = []) async throws -> BrokerProcess {
            try await BrokerProcess.started(options: [
                "connection uplink", "address 127.0.0.1:\(tlsPort)", "remote_clientid edge-tls", "restart_timeout 1 2",
                "topic telemetry/# out 1 \"\" site1/",
                "bridge_cafile \(certificates.ca.certificate)",
                "bridge_certfile \(certificates.deviceA.certificate)",
                "bridge_keyfile \(certificates.deviceA.key)",
            ] + extra)
        }

        @Test("mTLS to a mosquitto TLS listener: the bridge connects and messages flow out")
        func mutualTLS() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let remote = try await Self.startRemote(certificates, tlsPort: tlsPort, server: certificates.server)
            defer { remote.cleanup() }
            let watcher = try await MosquittoSub.start(port: remote.port, version: .v5, topics: ["site1/#"], qos: 1)
            defer { watcher.cleanup() }

            let edge = try await Self.startEdge(certificates, tlsPort: tlsPort, extra: ["bridge_tls_version tlsv1.2", "bridge_alpn mqtt"])
            defer { edge.cleanup() }
            try await BridgeTests.waitUntilBridgeConnected(edge)
            try await MosquittoPub.publish(port: edge.port, version: .v5, topic: "telemetry/t1", message: "over-tls", qos: 1)
            let received = try await watcher.waitForMessages(count: 1, timeout: .seconds(15))
            #expect(received.map(\.topic) == ["site1/telemetry/t1"], "\(edge.report)")
            #expect(received.map(\.text) == ["over-tls"])
        }

        @Test("a remote whose certificate is for another host name is refused; bridge_insecure true connects")
        func hostnameVerification() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let remote = try await Self.startRemote(certificates, tlsPort: tlsPort, server: certificates.wrongHost)
            defer { remote.cleanup() }

            let strict = try await Self.startEdge(certificates, tlsPort: tlsPort)
            defer { strict.cleanup() }
            try await Helpers.waitUntil("two refused handshakes", timeout: .seconds(20)) {
                strict.stderr.components(separatedBy: "TLS handshake with the remote failed").count - 1 >= 2
            }
            #expect(!strict.stderr.contains("[MeridianBridge] connected"), "\(strict.report)")
            #expect(strict.stderr.lowercased().contains("hostname") || strict.stderr.contains("unableToValidateCertificate"), "\(strict.report)")
            strict.stop()

            let insecure = try await Self.startEdge(certificates, tlsPort: tlsPort, extra: ["bridge_insecure true"])
            defer { insecure.cleanup() }
            try await BridgeTests.waitUntilBridgeConnected(insecure)
        }

        @Test("a remote signed by another CA is refused")
        func unknownCA() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let remote = try await Self.startRemote(certificates, tlsPort: tlsPort, server: certificates.server)
            defer { remote.cleanup() }
            // bridge_insecure does not turn off CA verification.
            let edge = try await BrokerProcess.started(options: [
                "connection uplink", "address 127.0.0.1:\(tlsPort)", "restart_timeout 1 2", "topic telemetry/# out 1",
                "bridge_cafile \(certificates.otherCA.certificate)", "bridge_insecure true",
                "bridge_certfile \(certificates.deviceA.certificate)", "bridge_keyfile \(certificates.deviceA.key)",
            ])
            defer { edge.cleanup() }
            try await Helpers.waitUntil("a refused handshake", timeout: .seconds(20)) {
                edge.stderr.contains("TLS handshake with the remote failed")
            }
            #expect(!edge.stderr.contains("[MeridianBridge] connected"), "\(edge.report)")
        }

        @Test("TLS options without a CA to verify the remote, and bridge_tls_version tlsv1.1, stop start-up", arguments: [
            (["bridge_certfile /c.pem", "bridge_keyfile /k.pem"], "connection uplink: bridge_certfile needs bridge_cafile or bridge_capath"),
            (["bridge_insecure true"], "connection uplink: bridge_insecure needs bridge_cafile or bridge_capath"),
            (["bridge_tls_version tlsv1.1"], "connection uplink: bridge_tls_version tlsv1.1 (use tlsv1.2 or tlsv1.3) is not supported"),
        ])
        func refusedOptions(lines: [String], message: String) async throws {
            let broker = try BrokerProcess(options: ["connection uplink", "address 127.0.0.1:1", "topic a out 0"] + lines)
            defer { broker.cleanup() }
            try broker.launch()
            let exit = await broker.waitForExit(timeout: .seconds(20))
            #expect(exit != nil && exit != .success, "\(broker.report)")
            #expect(broker.stderr.contains(message), "\(broker.report)")
        }

        @Test("a missing bridge_cafile stops start-up with a message naming the file")
        func missingCAFile() async throws {
            let missing = "/nonexistent/meridian-ca.pem"
            let broker = try BrokerProcess(options: [
                "connection uplink", "address 127.0.0.1:1", "topic a out 0", "bridge_cafile \(missing)",
            ])
            defer { broker.cleanup() }
            try broker.launch()
            let exit = await broker.waitForExit(timeout: .seconds(20))
            #expect(exit != nil && exit != .success, "\(broker.report)")
            #expect(broker.stderr.contains("connection uplink: bridge_cafile \(missing): No such file or directory"), "\(broker.report)")
        }
    }
}
