import Foundation
import MeridianTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension BrokerIntegration {
    /// Authentication: password files written by the real `mosquitto_passwd`, `allow_anonymous`,
    /// the CONNACK codes of refusals, their count in `$SYS`, and reloading on SIGHUP.
    @Suite("22 Authentication", .serialized)
    struct AuthTests {
        /// The CONNACK code the broker answers a CONNECT with these credentials.
        static func connackCode(
            _ broker: BrokerProcess, _ version: MQTTVersion, username: String?, password: String?
        ) async throws -> UInt8 {
            let client = try RawMQTTClient(port: broker.port)
            defer { client.close() }
            try client.send(RawPacket.connect(version, clientID: Helpers.unique("auth"), username: username, password: password))
            let connack = try await client.expectPacket(PacketType.connack)
            return try #require(connack.connackCode)
        }

        static func brokerWithUsers() async throws -> (BrokerProcess, SecurityFixtures) {
            let fixtures = try SecurityFixtures()
            try await fixtures.addUser("dev-7", password: "pbkdf2-secret")  // $7$, mosquitto_passwd's default
            try await fixtures.addUser("dev-6", password: "sha512-secret", hash: .sha512)  // $6$
            let broker = try await BrokerProcess.started(options: fixtures.options + ["sys_interval 1"])
            return (broker, fixtures)
        }

        @Test("the $7$ and $6$ lines of mosquitto_passwd are accepted with the right password", arguments: MQTTVersion.allCases)
        func passwordsAccepted(version: MQTTVersion) async throws {
            let (broker, fixtures) = try await Self.brokerWithUsers()
            defer { broker.cleanup(); fixtures.cleanup() }
            let text = try String(contentsOf: fixtures.passwordFile, encoding: .utf8)
            #expect(text.contains("dev-7:$7$") && text.contains("dev-6:$6$"), "unexpected file: \(text)")

            #expect(try await Self.connackCode(broker, version, username: "dev-7", password: "pbkdf2-secret") == 0)
            #expect(try await Self.connackCode(broker, version, username: "dev-6", password: "sha512-secret") == 0)
            // And a real client gets through, end to end.
            let topic = Helpers.unique("auth/ok")
            let sub = try await MosquittoSub.start(
                port: broker.port, version: version, topics: [topic], qos: 1, extra: ["-u", "dev-6", "-P", "sha512-secret"])
            defer { sub.cleanup() }
            try await MosquittoPub.publish(
                port: broker.port, version: version, topic: topic, message: "hello", qos: 1,
                extra: ["-u", "dev-7", "-P", "pbkdf2-secret"])
            #expect(try await sub.waitForMessages(count: 1).map(\.text) == ["hello"])
        }

        @Test("a wrong password or an unknown user is refused: 5 in 3.1.1, 0x86 in 5.0")
        func wrongPasswordRefused() async throws {
            let (broker, fixtures) = try await Self.brokerWithUsers()
            defer { broker.cleanup(); fixtures.cleanup() }
            #expect(try await Self.connackCode(broker, .v311, username: "dev-7", password: "wrong") == 5)
            #expect(try await Self.connackCode(broker, .v311, username: "dev-6", password: "wrong") == 5)
            #expect(try await Self.connackCode(broker, .v311, username: "nobody", password: "pbkdf2-secret") == 5)
            #expect(try await Self.connackCode(broker, .v311, username: "dev-7", password: nil) == 5)
            let v5Expected: UInt8 = BrokerIntegration.isMeridian ? 0x86 : 0x87  // mosquitto 2.0.11 answers 0x87
            #expect(try await Self.connackCode(broker, .v5, username: "dev-7", password: "wrong") == v5Expected)
            #expect(try await Self.connackCode(broker, .v5, username: "dev-6", password: "pbkdf2-secret") == v5Expected)
            #expect(try await Self.connackCode(broker, .v5, username: "nobody", password: "x") == v5Expected)
            // mosquitto_pub sees the refusal too.
            let result = try await ProcessRunner.run("mosquitto_pub", [
                "-h", "127.0.0.1", "-p", "\(broker.port)", "-V", "mqttv311", "-t", "x", "-m", "x", "-u", "dev-7", "-P", "nope",
            ])
            #expect(!result.succeeded)
            try await Helpers.expectAuthenticatedBrokerServesOthers(broker, username: "dev-7", password: "pbkdf2-secret")
        }

        @Test("with allow_anonymous false a client without a username is refused: 5 in 3.1.1, 0x87 in 5.0")
        func anonymousRefused() async throws {
            let (broker, fixtures) = try await Self.brokerWithUsers()
            defer { broker.cleanup(); fixtures.cleanup() }
            #expect(try await Self.connackCode(broker, .v311, username: nil, password: nil) == 5)
            #expect(try await Self.connackCode(broker, .v5, username: nil, password: nil) == 0x87)
        }

        @Test("allow_anonymous defaults to false", .enabled(if: BrokerIntegration.isMeridian, "Meridian's generated config"))
        func anonymousRefusedByDefault() async throws {
            let broker = try BrokerProcess()
            defer { broker.cleanup() }
            // No allow_anonymous line at all.
            try Data("listener \(broker.port) 127.0.0.1\n".utf8).write(to: broker.configFile)
            try await broker.start()
            #expect(try await Self.connackCode(broker, .v311, username: nil, password: nil) == 5)
            // Nothing can verify a username either (Mosquitto 2.0's rule; see "28 Security holes").
            #expect(try await Self.connackCode(broker, .v5, username: "anyone", password: nil) == 0x87)
        }

        @Test("refusals are counted in $SYS/broker/clients/auth_failures",
              .enabled(if: BrokerIntegration.isMeridian, "Meridian addition"))
        func failuresCounted() async throws {
            let (broker, fixtures) = try await Self.brokerWithUsers()
            defer { broker.cleanup(); fixtures.cleanup() }
            for _ in 0..<3 { _ = try await Self.connackCode(broker, .v5, username: "dev-7", password: "guess") }
            let sub = try await MosquittoSub.start(
                port: broker.port, version: .v5, topics: ["$SYS/broker/clients/auth_failures"],
                extra: ["-u", "dev-7", "-P", "pbkdf2-secret"])
            defer { sub.cleanup() }
            try await sub.waitForMessage("auth_failures >= 3") { Int($0.text) ?? 0 >= 3 }
            #expect(broker.stderr.contains("authentication failed") && broker.stderr.contains("127.0.0.1:"),
                    "failures are logged with the client address")
        }

        @Test("SIGHUP re-reads the password file: a new user gets in, a removed one is refused")
        func passwordFileReloaded() async throws {
            let (broker, fixtures) = try await Self.brokerWithUsers()
            defer { broker.cleanup(); fixtures.cleanup() }
            #expect(try await Self.connackCode(broker, .v5, username: "late", password: "late-secret") != 0)
            try await fixtures.addUser("late", password: "late-secret")
            try await ProcessRunner.run("mosquitto_passwd", ["-D", fixtures.passwordFile.path, "dev-6"]).requireSuccess()
            kill(try #require(broker.pid), SIGHUP)
            let deadline = ContinuousClock.now + .seconds(10)
            while try await Self.connackCode(broker, .v5, username: "late", password: "late-secret") != 0 {
                if ContinuousClock.now >= deadline { Issue.record("new user still refused after SIGHUP\n\(broker.report)"); return }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await Self.connackCode(broker, .v5, username: "dev-6", password: "sha512-secret") != 0)
            #expect(try await Self.connackCode(broker, .v5, username: "dev-7", password: "pbkdf2-secret") == 0)
        }
    }
}

extension Helpers {
    /// ``expectBrokerServesOthers(_:version:)`` for a broker that needs a username and password.
    static func expectAuthenticatedBrokerServesOthers(
        _ broker: BrokerProcess, username: String, password: String, version: MQTTVersion = .v5
    ) async throws {
        #expect(broker.isRunning, "broker died:\n\(broker.report)")
        let credentials = ["-u", username, "-P", password]
        let topic = unique("health")
        let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1, extra: credentials)
        defer { sub.cleanup() }
        try await MosquittoPub.publish(
            port: broker.port, version: version, topic: topic, message: "still-serving", qos: 1, extra: credentials)
        #expect(try await sub.waitForMessages(count: 1).map(\.text) == ["still-serving"])
    }
}
