import Foundation
import MeridianTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension BrokerIntegration {
    /// The authentication table, end to end: `meridian-edge` and `mosquitto` (2.0.11, whatever
    /// `BROKER_UNDER_TEST` says) start on the same configuration and the same files, and
    /// `mosquitto_pub -d` connects to each with the same credentials. Same CONNACK on every row,
    /// except the one difference the README's table documents: MQTT 5 clients with a wrong password
    /// or an unknown user get 0x86 Bad User Name or Password from Meridian, 0x87 from Mosquitto.
    @Suite("27 Authentication table against Mosquitto", .serialized)
    struct AuthenticationTableTests {
        /// A client of the table: its label and its `mosquitto_pub` arguments.
        struct Client: Sendable {
            let label: String
            let arguments: [String]
            /// Whether it offers a username that a password file refuses (the documented difference).
            var offersBadPassword = false
        }

        static let plainClients = [
            Client(label: "no username", arguments: []),
            Client(label: "alice, right password", arguments: ["-u", "alice", "-P", "secret"]),
            Client(label: "alice, wrong password", arguments: ["-u", "alice", "-P", "wrong"], offersBadPassword: true),
            Client(label: "alice, no password", arguments: ["-u", "alice"], offersBadPassword: true),
            Client(label: "mallory", arguments: ["-u", "mallory", "-P", "x"], offersBadPassword: true),
        ]

        /// The CONNACK code `mosquitto_pub -d` reports (nil: none, e.g. a failed TLS handshake),
        /// and whether it published.
        static func connack(port: Int, version: MQTTVersion, arguments: [String]) async throws -> (code: Int?, published: Bool) {
            let result = try await ProcessRunner.run(
                "mosquitto_pub",
                ["-h", "127.0.0.1", "-p", "\(port)", "-V", version.mosquittoName, "-d", "-t", "auth/table", "-m", "x", "-q", "1"]
                    + arguments,
                timeout: .seconds(15))
            let output = result.stdout + result.stderr
            guard let range = output.range(of: "received CONNACK (") else { return (nil, result.succeeded) }
            let digits = output[range.upperBound...].prefix { $0.isNumber }
            return (Int(digits), result.succeeded)
        }

        /// Starts Meridian and Mosquitto on `lines` after their plain listener line (and, with
        /// `tlsListener`, a second listener that the clients use instead), and returns, for each
        /// client and protocol version, both brokers' answers.
        static func compare(
            lines: [String], clients: [Client], versions: [MQTTVersion] = MQTTVersion.allCases,
            tlsListener: ((Int) -> [String])? = nil, tlsClientArguments: [String] = []
        ) async throws -> [(Client, MQTTVersion, meridian: (code: Int?, published: Bool), mosquitto: (code: Int?, published: Bool))] {
            var brokers: [BrokerKind: (broker: BrokerProcess, port: Int)] = [:]
            defer { for (broker, _) in brokers.values { broker.cleanup() } }
            for kind in [BrokerKind.meridian, .mosquitto] {
                let broker = try BrokerProcess(kind: kind)
                let tlsPort = try FreePort.allocate()
                let text = (["listener \(broker.port) 127.0.0.1"] + lines + (tlsListener?(tlsPort) ?? [])).joined(separator: "\n") + "\n"
                try Data(text.utf8).write(to: broker.configFile)
                brokers[kind] = (broker, tlsListener == nil ? broker.port : tlsPort)
                try await broker.start()
                if tlsListener != nil {
                    // `start` waits for the first listener; the second may be bound a moment later.
                    try await Helpers.waitUntil("\(kind)'s second listener on \(tlsPort)") {
                        guard let client = try? RawMQTTClient(port: tlsPort) else { return false }
                        client.close()
                        return true
                    }
                }
            }
            var rows: [(Client, MQTTVersion, (code: Int?, published: Bool), (code: Int?, published: Bool))] = []
            for client in clients {
                for version in versions {
                    let arguments = client.arguments + tlsClientArguments
                    let meridian = try await connack(port: brokers[.meridian]!.port, version: version, arguments: arguments)
                    let mosquitto = try await connack(port: brokers[.mosquitto]!.port, version: version, arguments: arguments)
                    rows.append((client, version, meridian, mosquitto))
                }
            }
            for (broker, _) in brokers.values { #expect(broker.isRunning, "\(broker.kind) died\n\(broker.report)") }
            return rows
        }

        /// Same verdict, or the documented difference (v5, a username the password file refuses).
        static func expectAgreement(
            _ rows: [(Client, MQTTVersion, meridian: (code: Int?, published: Bool), mosquitto: (code: Int?, published: Bool))],
            configuration: String, passwordFile: Bool
        ) {
            for (client, version, meridian, mosquitto) in rows {
                let what = "\(configuration) | \(client.label) | \(version): meridian \(meridian), mosquitto \(mosquitto)"
                #expect(meridian.published == mosquitto.published, "\(what)")
                #expect(meridian.published == (meridian.code == 0), "\(what)")
                if passwordFile && version == .v5 && client.offersBadPassword && mosquitto.code == 0x87 {
                    #expect(meridian.code == 0x86, "the documented difference: \(what)")
                } else {
                    #expect(meridian.code == mosquitto.code, "\(what)")
                }
            }
        }

        static let anonymousSettings: [(label: String, line: String?)] = [
            ("allow_anonymous true", "allow_anonymous true"), ("allow_anonymous false", "allow_anonymous false"),
            ("allow_anonymous unset", nil),
        ]

        @Test("plain listener: allow_anonymous true / false / unset × password file none / present × 5 clients × 3.1.1 and 5.0",
              arguments: [0, 1, 2])
        func plainListener(anonymous: Int) async throws {
            let fixtures = try SecurityFixtures()
            defer { fixtures.cleanup() }
            try await fixtures.addUser("alice", password: "secret")
            TestPaths.makeReadableByAll(fixtures.directory)
            let setting = Self.anonymousSettings[anonymous]
            for withFile in [false, true] {
                var lines = ["persistence false"]
                if let line = setting.line { lines.append(line) }
                if withFile { lines.append("password_file \(fixtures.passwordFile.path)") }
                let rows = try await Self.compare(lines: lines, clients: Self.plainClients)
                Self.expectAgreement(
                    rows, configuration: "\(setting.label), password file \(withFile ? "present" : "none")", passwordFile: withFile)
            }
        }

        @Test("TLS listeners: require_certificate, use_identity_as_username, use_subject_as_username")
        func tlsListeners() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let fixtures = try SecurityFixtures()
            defer { fixtures.cleanup() }
            try await fixtures.addUser("alice", password: "secret")
            for directory in [certificates.directory, fixtures.directory] { TestPaths.makeReadableByAll(directory) }
            let clients = [
                Client(label: "certificate, no username", arguments: ["--cert", certificates.deviceA.certificate, "--key", certificates.deviceA.key]),
                Client(label: "certificate, alice with a wrong password",
                       arguments: ["--cert", certificates.deviceA.certificate, "--key", certificates.deviceA.key, "-u", "alice", "-P", "wrong"],
                       offersBadPassword: true),
                Client(label: "no certificate, alice with the right password", arguments: ["-u", "alice", "-P", "secret"]),
            ]
            // Per listener, Meridian's 5.0 codes for the three clients (nil: the TLS handshake failed),
            // so that agreement cannot come from two brokers that both answered nothing.
            let listeners: [(String, [String], [Int?])] = [
                ("require_certificate false", [], [0x87, 0x86, 0]),
                ("require_certificate true", ["require_certificate true"], [0x87, 0x86, nil]),
                ("use_identity_as_username", ["require_certificate true", "use_identity_as_username true"], [0, 0, nil]),
                ("use_subject_as_username", ["require_certificate true", "use_subject_as_username true"], [0, 0, nil]),
                ("use_identity_as_username without require_certificate", ["use_identity_as_username true"], [0x86, 0x86, 0x86]),
            ]
            for (label, options, expected) in listeners {
                let rows = try await Self.compare(
                    lines: ["persistence false", "allow_anonymous false", "password_file \(fixtures.passwordFile.path)"],
                    clients: clients,
                    tlsListener: { port in
                        ["listener \(port) 127.0.0.1", "certfile \(certificates.server.certificate)",
                         "keyfile \(certificates.server.key)", "cafile \(certificates.ca.certificate)"] + options
                    },
                    tlsClientArguments: ["--cafile", certificates.ca.certificate])
                Self.expectAgreement(rows, configuration: label, passwordFile: true)
                let meridianV5 = rows.filter { $0.1 == .v5 }.map(\.meridian.code)
                #expect(meridianV5 == expected, "\(label)")
            }
        }
    }
}
