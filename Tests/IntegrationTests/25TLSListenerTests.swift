import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// TLS listeners beside the plain one, with certificates made by `openssl` for the test
    /// (`TestCertificates`): server authentication, client certificates (mTLS), the certificate's
    /// CN or subject as the username, refusal of clients with no, foreign, expired or revoked
    /// certificates, and start-up refusal of a missing certificate file.
    @Suite("25 TLS listeners", .serialized, .enabled(if: BrokerIntegration.isMeridian, "TLS listeners of meridian-edge"))
    struct TLSListenerTests {
        /// The edge with its plain listener and a TLS listener on `tlsPort` with `options`.
        static func startEdge(
            _ certificates: TestCertificates, tlsPort: Int, options: [String] = [], global: [String] = []
        ) async throws -> BrokerProcess {
            let listener = [
                "listener \(tlsPort) 127.0.0.1",
                "certfile \(certificates.server.certificate)",
                "keyfile \(certificates.server.key)",
                "cafile \(certificates.ca.certificate)",
            ]
            let broker = try await BrokerProcess.started(options: global + listener + options)
            // `started` waits for the first (plain) listener; the TLS one is bound right after it.
            try await Helpers.waitUntil("the TLS listener on \(tlsPort)") {
                broker.stderr.contains("address=127.0.0.1:\(tlsPort) tls=true") || !broker.isRunning
            }
            return broker
        }

        /// `mosquitto_pub` of one QoS 1 message over TLS; the result, successful or not.
        static func publish(
            port: Int, certificates: TestCertificates, client: TestCertificates.Pair?, topic: String = "tls/test",
            version: MQTTVersion = .v5, extra: [String] = []
        ) async throws -> ProcessResult {
            let arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-V", version.mosquittoName, "-t", topic, "-q", "1", "-m", "hello"]
                + certificates.clientArguments(client: client) + extra
            return try await ProcessRunner.run("mosquitto_pub", arguments, timeout: .seconds(15))
        }

        /// The broker's log lines that contain every one of `parts`.
        static func logLines(_ broker: BrokerProcess, containing parts: String...) -> [Substring] {
            broker.stderr.split(separator: "\n").filter { line in parts.allSatisfy { line.contains($0) } }
        }

        @Test("plain and TLS listeners side by side: messages cross between them")
        func plainAndTLS() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await Self.startEdge(certificates, tlsPort: tlsPort)
            defer { edge.cleanup() }

            let plainSubscriber = try await MosquittoSub.start(port: edge.port, version: .v5, topics: ["tls/#"], qos: 1)
            defer { plainSubscriber.cleanup() }
            let sent = try await Self.publish(port: tlsPort, certificates: certificates, client: nil, topic: "tls/from-tls")
            #expect(sent.succeeded, "\(sent)\n\(edge.report)")
            let received = try await plainSubscriber.waitForMessages(count: 1)
            #expect(received.map(\.topic) == ["tls/from-tls"])

            let tlsSubscriber = try await MosquittoSub.start(
                port: tlsPort, version: .v311, topics: ["plain/#"], qos: 1, extra: certificates.clientArguments(client: nil)
            )
            defer { tlsSubscriber.cleanup() }
            try await MosquittoPub.publish(port: edge.port, version: .v311, topic: "plain/x", message: "from-plain", qos: 1)
            #expect(try await tlsSubscriber.waitForMessages(count: 1).map(\.text) == ["from-plain"])
        }

        @Test("a client that does not trust the server's CA cannot connect")
        func clientRefusesUnknownServer() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await Self.startEdge(certificates, tlsPort: tlsPort)
            defer { edge.cleanup() }
            let arguments = ["-h", "127.0.0.1", "-p", "\(tlsPort)", "-t", "x", "-m", "y", "--cafile", certificates.otherCA.certificate]
            let result = try await ProcessRunner.run("mosquitto_pub", arguments, timeout: .seconds(15))
            #expect(!result.succeeded && !result.timedOut, "\(result)")
            // The broker logs the failed handshake with the peer's address and keeps serving.
            try await Helpers.waitUntil("a logged handshake failure") {
                !Self.logLines(edge, containing: "TLS handshake failed", "peer=[IPv4]127.0.0.1").isEmpty
            }
            #expect(try await Self.publish(port: tlsPort, certificates: certificates, client: nil).succeeded)
        }

        @Test("mTLS: with use_identity_as_username the certificate's CN is the username, and allow_anonymous false admits it")
        func identityAsUsername() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await Self.startEdge(
                certificates, tlsPort: tlsPort, options: ["require_certificate true", "use_identity_as_username true"],
                global: ["allow_anonymous false"]
            )
            defer { edge.cleanup() }

            // No username in CONNECT: the certificate gives one, so allow_anonymous false admits the client.
            let deviceA = try await Self.publish(port: tlsPort, certificates: certificates, client: certificates.deviceA)
            #expect(deviceA.succeeded, "\(deviceA)\n\(edge.report)")
            // A CONNECT username does not override the certificate.
            let deviceB = try await Self.publish(
                port: tlsPort, certificates: certificates, client: certificates.deviceB, extra: ["-u", "device-a", "-P", "x"]
            )
            #expect(deviceB.succeeded, "\(deviceB)")
            #expect(Self.logLines(edge, containing: "certificate identity", "username=device-a").count == 1, "\(edge.report)")
            #expect(Self.logLines(edge, containing: "certificate identity", "username=device-b").count == 1, "\(edge.report)")

            // paho-mqtt with a client certificate: subscribe and publish round trip.
            let paho = try await ProcessRunner.run("python3", [
                try PahoScript.directory.appendingPathComponent("tls_client.py").path, "--port", "\(tlsPort)",
                "--cafile", certificates.ca.certificate, "--cert", certificates.deviceA.certificate, "--key", certificates.deviceA.key,
            ], timeout: .seconds(30))
            #expect(paho.succeeded, "\(paho)\n\(edge.report)")
        }

        @Test("use_subject_as_username: the username is the subject in RFC 2253 form, as mosquitto gives it")
        func subjectAsUsername() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await Self.startEdge(
                certificates, tlsPort: tlsPort, options: ["require_certificate true", "use_subject_as_username true"]
            )
            defer { edge.cleanup() }
            let result = try await Self.publish(port: tlsPort, certificates: certificates, client: certificates.deviceA)
            #expect(result.succeeded, "\(result)")
            #expect(!Self.logLines(edge, containing: "certificate identity", "username=CN=device-a,O=Meridian Test,C=DE").isEmpty, "\(edge.report)")
        }

        @Test("use_identity_as_username without require_certificate: a client without a certificate is refused (bad user name or password)")
        func identityWithoutCertificate() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await Self.startEdge(certificates, tlsPort: tlsPort, options: ["use_identity_as_username true"])
            defer { edge.cleanup() }
            let v311 = try await Self.publish(port: tlsPort, certificates: certificates, client: nil, version: .v311, extra: ["-u", "device-a"])
            #expect(!v311.succeeded && (v311.stderr + v311.stdout).lowercased().contains("bad user name or password"), "\(v311)")
            let v5 = try await Self.publish(port: tlsPort, certificates: certificates, client: nil, version: .v5)
            #expect(!v5.succeeded && (v5.stderr + v5.stdout).lowercased().contains("bad user name or password"), "\(v5)")
        }

        @Test("require_certificate: no certificate, a foreign CA's and an expired one are refused; a good one is accepted")
        func refusedCertificates() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await Self.startEdge(certificates, tlsPort: tlsPort, options: ["require_certificate true"])
            defer { edge.cleanup() }
            for (name, client) in [("none", nil), ("foreign", certificates.foreign), ("expired", certificates.expired)] {
                let result = try await Self.publish(port: tlsPort, certificates: certificates, client: client)
                #expect(!result.succeeded && !result.timedOut, "\(name) certificate accepted: \(result)")
            }
            try await Helpers.waitUntil("three logged handshake failures") {
                Self.logLines(edge, containing: "TLS handshake failed").count >= 3
            }
            let good = try await Self.publish(port: tlsPort, certificates: certificates, client: certificates.deviceA)
            #expect(good.succeeded, "\(good)\n\(edge.report)")
            #expect(edge.isRunning)
        }

        @Test("capath instead of cafile: a device of the CA is accepted, a foreign one refused")
        func caDirectory() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await BrokerProcess.started(options: [
                "listener \(tlsPort) 127.0.0.1", "certfile \(certificates.server.certificate)", "keyfile \(certificates.server.key)",
                "capath \(certificates.caDirectory)", "require_certificate true", "use_identity_as_username true",
            ])
            defer { edge.cleanup() }
            let good = try await Self.publish(port: tlsPort, certificates: certificates, client: certificates.deviceB)
            #expect(good.succeeded, "\(good)\n\(edge.report)")
            #expect(!Self.logLines(edge, containing: "certificate identity", "username=device-b").isEmpty, "\(edge.report)")
            let foreign = try await Self.publish(port: tlsPort, certificates: certificates, client: certificates.foreign)
            #expect(!foreign.succeeded && !foreign.timedOut, "\(foreign)")
        }

        @Test("crlfile: a revoked client certificate is refused, others of the same CA are accepted")
        func revokedCertificate() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await Self.startEdge(
                certificates, tlsPort: tlsPort, options: ["require_certificate true", "crlfile \(certificates.crl)"]
            )
            defer { edge.cleanup() }
            let revoked = try await Self.publish(port: tlsPort, certificates: certificates, client: certificates.revoked)
            #expect(!revoked.succeeded && !revoked.timedOut, "revoked certificate accepted: \(revoked)\n\(edge.report)")
            try await Helpers.waitUntil("a logged revocation") {
                !Self.logLines(edge, containing: "TLS handshake failed", "revoked").isEmpty
            }
            let good = try await Self.publish(port: tlsPort, certificates: certificates, client: certificates.deviceB)
            #expect(good.succeeded, "\(good)\n\(edge.report)")
        }

        @Test("tls_version tlsv1.3: a TLS 1.2 client is refused")
        func minimumVersion() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await Self.startEdge(certificates, tlsPort: tlsPort, options: ["tls_version tlsv1.3"])
            defer { edge.cleanup() }
            // mosquitto_pub's --tls-version is a minimum too, so `openssl s_client` pins the version.
            func handshake(_ flag: String) async throws -> ProcessResult {
                try await ProcessRunner.run("openssl", [
                    "s_client", "-connect", "127.0.0.1:\(tlsPort)", flag, "-CAfile", certificates.ca.certificate,
                    "-verify_return_error", "-brief",
                ], stdin: "", timeout: .seconds(15))
            }
            let old = try await handshake("-tls1_2")
            #expect(!old.succeeded && !old.timedOut, "\(old)")
            let new = try await handshake("-tls1_3")
            #expect(new.succeeded, "\(new)\n\(edge.report)")
        }

        @Test("a connection that never completes the handshake is closed after connect_timeout; plain MQTT on the TLS port is refused")
        func stalledHandshake() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let tlsPort = try FreePort.allocate()
            let edge = try await Self.startEdge(certificates, tlsPort: tlsPort, global: ["connect_timeout 2"])
            defer { edge.cleanup() }
            let silent = try RawMQTTClient(port: tlsPort)
            defer { silent.close() }
            #expect(try await silent.waitForClose(timeout: .seconds(6)).isEmpty)

            let plain = try await ProcessRunner.run(
                "mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(tlsPort)", "-t", "x", "-m", "y", "-q", "1"], timeout: .seconds(15)
            )
            #expect(!plain.succeeded && !plain.timedOut, "\(plain)")
            try await Helpers.waitUntil("a logged handshake failure") {
                !Self.logLines(edge, containing: "TLS handshake failed").isEmpty
            }
            #expect(try await Self.publish(port: tlsPort, certificates: certificates, client: nil).succeeded)
        }

        @Test("a missing certificate or key file stops start-up with a message naming the file")
        func missingFile() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let missing = certificates.directory.appendingPathComponent("no-such-server.crt").path
            for (option, lines) in [
                ("certfile", ["certfile \(missing)", "keyfile \(certificates.server.key)"]),
                ("keyfile", ["certfile \(certificates.server.certificate)", "keyfile \(missing)"]),
                ("cafile", ["certfile \(certificates.server.certificate)", "keyfile \(certificates.server.key)", "cafile \(missing)"]),
            ] {
                let broker = try BrokerProcess(options: ["listener \(try FreePort.allocate()) 127.0.0.1"] + lines)
                defer { broker.cleanup() }
                try broker.launch()
                let exit = await broker.waitForExit(timeout: .seconds(20))
                #expect(exit != nil && exit != .success, "\(option): \(broker.report)")
                #expect(broker.stderr.contains("\(option) \(missing): No such file or directory"), "\(option): \(broker.report)")
            }
        }
    }
}
