import Foundation
import MeridianTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension BrokerIntegration {
    /// The three holes hostile testing found, closed: a listener with nothing that can verify a
    /// client admits nobody; a client id taken by another user leaks nothing of its owner's
    /// session; a topic filter of 65,536 levels, subscribed, unsubscribed, expired or restored,
    /// leaves the gateway running.
    @Suite("28 Security holes", .serialized)
    struct SecurityHoleTests {
        // MARK: - Open door

        @Test("listener alone (allow_anonymous unset, no password file): no client of any kind gets in")
        func listenerAloneAdmitsNobody() async throws {
            let broker = try BrokerProcess()
            defer { broker.cleanup() }
            try Data("listener \(broker.port) 127.0.0.1\n".utf8).write(to: broker.configFile)
            try await broker.start()
            for version in MQTTVersion.allCases {
                for credentials in [[], ["-u", "mallory", "-P", "wrong"], ["-u", "alice"], ["-u", "eve", "-P", "x"]] {
                    let result = try await ProcessRunner.run(
                        "mosquitto_pub",
                        ["-h", "127.0.0.1", "-p", "\(broker.port)", "-V", version.mosquittoName, "-t", "t", "-m", "x"] + credentials,
                        timeout: .seconds(15))
                    #expect(!result.succeeded && !result.timedOut, "\(version) \(credentials) got in\n\(result)")
                }
                let code = try await AuthTests.connackCode(broker, version, username: "eve", password: "x")
                #expect(code == (version == .v5 ? 0x87 : 5))
            }
            // mosquitto_sub -t '#' with any username does not read anything either.
            let reader = try await ProcessRunner.run(
                "mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-u", "eve", "-P", "x", "-t", "#", "-W", "5"],
                timeout: .seconds(15))
            #expect(!reader.succeeded && !reader.timedOut, "\(reader)")
            if BrokerIntegration.isMeridian {
                let warnings = broker.stderr.split(separator: "\n").filter { $0.contains("accepts no client") }
                #expect(warnings.count == 1, "start-up says once that the listener accepts nobody:\n\(broker.stderr)")
                // 11 refusals: logged with their reason, at most one line a second (the rest are counted).
                let logged = broker.stderr.split(separator: "\n").filter { $0.contains("authentication failed") }
                #expect(!logged.isEmpty && logged.count < 11, "\(logged)")
                #expect(logged.first?.contains("reason=anonymous") == true)
            }
        }

        // MARK: - Session takeover

        static let aclText = "pattern readwrite devices/%u/#\n"

        /// A broker with users alice and bob (password "alice-pw" / "bob-pw") and the `%u` pattern ACL.
        static func aliceAndBob(_ options: [String] = []) async throws -> (BrokerProcess, SecurityFixtures) {
            let fixtures = try SecurityFixtures()
            try await fixtures.addUser("alice", password: "alice-pw")
            try await fixtures.addUser("bob", password: "bob-pw")
            try fixtures.writeACL(aclText)
            TestPaths.makeReadableByAll(fixtures.directory)
            let broker = try await BrokerProcess.started(options: fixtures.options + options)
            return (broker, fixtures)
        }

        static func credentials(_ user: String) -> [String] { ["-u", user, "-P", "\(user)-pw"] }

        /// alice's persistent session `shared-id`, subscribed to her topics, with one QoS 1 message
        /// queued while she is offline.
        static func queueForAlice(_ broker: BrokerProcess, version: MQTTVersion) async throws {
            let alice = try await MosquittoSub.start(
                port: broker.port, version: version, topics: ["devices/alice/#"], qos: 1, clientID: "shared-id",
                cleanSession: false, sessionExpiry: version == .v5 ? 3600 : nil, extra: credentials("alice"))
            alice.cleanup()
            try await Helpers.waitUntil("alice's connection to close") { !alice.process.isRunning }
            try await MosquittoPub.publish(
                port: broker.port, version: version, topic: "devices/alice/queued", message: "for-alice", qos: 1,
                extra: credentials("alice"))
        }

        @Test("bob with alice's client id receives nothing of alice's, and alice keeps her queue",
              arguments: MQTTVersion.allCases, [false, true])
        func takeoverLeaksNothing(version: MQTTVersion, restart: Bool) async throws {
            let (broker, fixtures) = try await Self.aliceAndBob(restart ? ["persistence true"] : [])
            defer { broker.cleanup(); fixtures.cleanup() }
            try await Self.queueForAlice(broker, version: version)
            if restart {
                broker.stop()
                try await broker.start()
            }
            let bob = try await MosquittoSub.start(
                port: broker.port, version: version, topics: ["devices/bob/#"], qos: 1, clientID: "shared-id",
                cleanSession: false, sessionExpiry: version == .v5 ? 3600 : nil, extra: Self.credentials("bob"),
                lifetimeSeconds: 10, waitForSuback: false)
            defer { bob.cleanup() }
            if BrokerIntegration.isMeridian {
                // Refused outright: 0x87 / 5, and mosquitto_sub gives up.
                _ = await bob.process.waitForExit(timeout: .seconds(10))
                #expect(bob.process.exit != nil && !bob.process.stdout.contains("Subscribed"), "bob got in:\n\(bob.process.report)")
                #expect(bob.messages.isEmpty)
                // The owner's session is intact: alice reconnects and gets her message.
                let alice = try await MosquittoSub.start(
                    port: broker.port, version: version, topics: ["devices/alice/#"], qos: 1, clientID: "shared-id",
                    cleanSession: false, sessionExpiry: version == .v5 ? 3600 : nil, extra: Self.credentials("alice"),
                    waitForSuback: false)
                defer { alice.cleanup() }
                #expect(try await alice.waitForMessages(count: 1).map(\.text) == ["for-alice"])
                #expect(broker.stderr.contains("client id belongs to another user's session"))
            } else {
                // Mosquitto lets bob take the session over, but delivers nothing of alice's.
                try await bob.waitUntilSubscribed()
                try await MosquittoPub.publish(
                    port: broker.port, version: version, topic: "devices/bob/sentinel", message: "sentinel", qos: 1,
                    extra: Self.credentials("bob"))
                let received = try await bob.waitForMessage("sentinel") { $0.text == "sentinel" }
                #expect(received.map(\.text) == ["sentinel"], "bob received alice's: \(received)")
            }
        }

        @Test("allow_cross_user_takeover true: bob takes the session over, and alice's queue is still not his to read",
              .enabled(if: BrokerIntegration.isMeridian, "Meridian option"), arguments: MQTTVersion.allCases)
        func crossUserTakeover(version: MQTTVersion) async throws {
            let (broker, fixtures) = try await Self.aliceAndBob(["allow_cross_user_takeover true", "sys_interval 1"])
            defer { broker.cleanup(); fixtures.cleanup() }
            try await Self.queueForAlice(broker, version: version)
            let bob = try await MosquittoSub.start(
                port: broker.port, version: version, topics: ["devices/bob/#"], qos: 1, clientID: "shared-id",
                cleanSession: false, sessionExpiry: version == .v5 ? 3600 : nil, extra: Self.credentials("bob"))
            defer { bob.cleanup() }
            try await MosquittoPub.publish(
                port: broker.port, version: version, topic: "devices/bob/sentinel", message: "sentinel", qos: 1,
                extra: Self.credentials("bob"))
            let received = try await bob.waitForMessage("sentinel") { $0.text == "sentinel" }
            #expect(received.map(\.text) == ["sentinel"], "bob received alice's: \(received)")
        }

        @Test("SIGHUP: a client whose password was changed or removed is disconnected; the others stay")
        func reloadDisconnectsLapsedCredentials() async throws {
            let (broker, fixtures) = try await Self.aliceAndBob()
            defer { broker.cleanup(); fixtures.cleanup() }
            let alice = try await MosquittoSub.start(
                port: broker.port, version: .v5, topics: ["devices/alice/#"], extra: Self.credentials("alice") + ["-k", "60"])
            defer { alice.cleanup() }
            let bob = try await MosquittoSub.start(
                port: broker.port, version: .v5, topics: ["devices/bob/#"], extra: Self.credentials("bob") + ["-k", "60"])
            defer { bob.cleanup() }
            try await ProcessRunner.run("mosquitto_passwd", ["-D", fixtures.passwordFile.path, "bob"]).requireSuccess()
            kill(try #require(broker.pid), SIGHUP)
            try await Helpers.waitUntil("bob to be disconnected", timeout: .seconds(10)) { !bob.process.isRunning }
            #expect(alice.process.isRunning, "alice's password did not change")
            try await MosquittoPub.publish(
                port: broker.port, version: .v5, topic: "devices/alice/still", message: "still", qos: 1, extra: Self.credentials("alice"))
            #expect(try await alice.waitForMessages(count: 1).map(\.text) == ["still"])
        }

        @Test("SIGHUP with a malformed password file keeps the previous one: nobody new gets in, nobody is let in unchecked",
              .enabled(if: BrokerIntegration.isMeridian, "Meridian's reload"))
        func badReloadKeepsPreviousFile() async throws {
            let (broker, fixtures) = try await Self.aliceAndBob()
            defer { broker.cleanup(); fixtures.cleanup() }
            try Data("alice:plaintext\nnot a line\n".utf8).write(to: fixtures.passwordFile)
            kill(try #require(broker.pid), SIGHUP)
            try await Helpers.waitUntil("the reload to be refused") {
                broker.stderr.contains("security files not reloaded, the previous ones stay in force")
            }
            #expect(try await AuthTests.connackCode(broker, .v5, username: "alice", password: "alice-pw") == 0)
            #expect(try await AuthTests.connackCode(broker, .v5, username: "alice", password: "plaintext") == 0x86)
            #expect(try await AuthTests.connackCode(broker, .v5, username: nil, password: nil) == 0x87)
        }

        @Test("a missing, unreadable or malformed password_file or acl_file stops start-up, naming the file",
              .enabled(if: BrokerIntegration.isMeridian, "Meridian's messages"),
              arguments: ["password_file", "acl_file"], ["missing", "directory", "malformed"])
        func badSecurityFileStopsStartUp(option: String, problem: String) async throws {
            let fixtures = try SecurityFixtures()
            defer { fixtures.cleanup() }
            try await fixtures.addUser("alice", password: "alice-pw")
            let path = fixtures.directory.appendingPathComponent("under-test").path
            switch problem {
            case "directory": try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            case "malformed":
                let text = option == "password_file" ? "alice:plaintext\n" : "# rules\ntopic readwrite a/#\nbogus line\n"
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            default: break
            }
            var lines = ["allow_anonymous false", "password_file \(fixtures.passwordFile.path)"]
            if option == "password_file" { lines = ["allow_anonymous false"] }
            lines.append("\(option) \(path)")
            let broker = try BrokerProcess(options: lines)
            defer { broker.cleanup() }
            try broker.launch()
            let exit = await broker.waitForExit(timeout: .seconds(10))
            #expect(exit != nil && exit?.code != 0, "started anyway\n\(broker.report)")
            let expected = problem == "malformed" ? "\(path):\(option == "password_file" ? 1 : 3): " : path
            #expect(broker.stderr.contains(expected), "\(expected) not in\n\(broker.stderr)")
            #expect(!broker.stderr.contains("listening"), "it never listened")
        }

        // MARK: - Deep topics (CVE-2019-11779)

        static let deepFilter = String(repeating: "/", count: 65_535)

        @Test("a filter of 65,536 levels is refused (SUBACK 0x80 / 0x8F), and the gateway keeps serving",
              .enabled(if: BrokerIntegration.isMeridian, "Mosquitto closes the connection instead"), arguments: MQTTVersion.allCases)
        func deepFilterRefused(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started(options: ["persistence true"])
            defer { broker.cleanup() }
            let client = try RawMQTTClient(port: broker.port)
            defer { client.close() }
            try await client.connect(version, clientID: "deep", cleanStart: false,
                                     properties: version == .v5 ? RawProperty.sessionExpiryInterval(3600) : [])
            try client.send(RawPacket.subscribe(version, packetID: 1, filter: Self.deepFilter, options: 1))
            let suback = try await client.expectPacket(PacketType.suback)
            #expect(try suback.subackCodes(version) == [version == .v5 ? 0x8F : 0x80])
            // 200 levels is the bound: accepted, and unsubscribed again.
            let bound = String(repeating: "a/", count: 199) + "a"
            try client.send(RawPacket.subscribe(version, packetID: 2, filter: bound, options: 1))
            #expect(try await client.expectPacket(PacketType.suback).subackCodes(version) == [1])
            try client.send(RawPacket.subscribe(version, packetID: 3, filter: bound + "/b", options: 1))
            #expect(try await client.expectPacket(PacketType.suback).subackCodes(version) == [version == .v5 ? 0x8F : 0x80])
            // Unsubscribing the deep filter, disconnecting and a clean-start reconnect leave it running.
            try client.send(RawPacket.frame(0xA2, RawPacket.uint16(4) + (version == .v5 ? [0] : []) + RawPacket.string(Self.deepFilter)))
            _ = try await client.expectPacket(PacketType.unsuback)
            client.close()
            let again = try RawMQTTClient(port: broker.port)
            defer { again.close() }
            try await again.connect(version, clientID: "deep", cleanStart: true)
            try await Helpers.expectBrokerServesOthers(broker, version: version)
            broker.stop()
            try await broker.start()
            try await Helpers.expectBrokerServesOthers(broker, version: version)
        }

        @Test("a PUBLISH to a topic of 65,536 levels: PUBACK 0x90 in 5.0, the connection closed in 3.1.1; the gateway keeps serving",
              .enabled(if: BrokerIntegration.isMeridian, "Mosquitto closes with 0x82"))
        func deepTopicRefused() async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = String(repeating: "x/", count: 32_767) + "x"
            let v5 = try RawMQTTClient(port: broker.port)
            defer { v5.close() }
            try await v5.connect(.v5, clientID: "deep-pub-5")
            try v5.send(RawPacket.publish(.v5, topic: topic, payload: "x", qos: 1, packetID: 9))
            let puback = try await v5.expectPacket(PacketType.puback)
            #expect(puback.ackReason == 0x90)
            let v3 = try RawMQTTClient(port: broker.port)
            defer { v3.close() }
            try await v3.connect(.v311, clientID: "deep-pub-3")
            try v3.send(RawPacket.publish(.v311, topic: topic, payload: "x", qos: 1, packetID: 9))
            let frames = try await v3.waitForClose()
            #expect(frames.isEmpty, "3.1.1 cannot be told no: closed, without a PUBACK")
            try await Helpers.expectBrokerServesOthers(broker, version: .v5)
        }

        @Test("a poison session in the store (a filter of 65,536 levels) is not restored; the gateway starts and serves",
              .enabled(if: BrokerIntegration.isMeridian, "Meridian's store"))
        func poisonStoreNotRestored() async throws {
            let broker = try await BrokerProcess.started(options: ["persistence true"])
            defer { broker.cleanup() }
            // A persistent session, so that the store has its tables and one real session.
            let sub = try await MosquittoSub.start(
                port: broker.port, version: .v311, topics: ["ok/#"], qos: 1, clientID: "poison", cleanSession: false)
            sub.cleanup()
            broker.stop()
            // Rows no client could create any more, as a store written before the bound would hold them.
            let database = broker.dataDirectory.appendingPathComponent("meridian.db").path
            let deepTopic = String(repeating: "x/", count: 32_767) + "x"
            let script = """
                import sqlite3, sys
                db = sqlite3.connect(sys.argv[1])
                deep = '/' * 65535
                db.execute("INSERT INTO subscriptions (client_id, filter, options, identifier) VALUES ('poison', ?, 1, NULL)", (deep,))
                db.execute("INSERT INTO retained (topic, payload, qos, retain) VALUES (?, x'41', 0, 1)", (sys.argv[2],))
                db.execute("INSERT INTO messages (client_id, message_id, topic, payload, qos, retain) VALUES ('poison', 999999, ?, x'41', 1, 0)", (sys.argv[2],))
                db.commit()
                """
            try await ProcessRunner.run("python3", ["-c", script, database, deepTopic]).requireSuccess()
            try await broker.start()
            try await Helpers.waitUntil("the store's refusal to be logged") {
                broker.stderr.contains("rows with topics deeper than 200 levels removed, not restored")
            }
            // The session itself is back, with its real subscription; reconnecting, unsubscribing all
            // and a clean start leave the gateway running.
            let back = try RawMQTTClient(port: broker.port)
            try await back.connect(.v311, clientID: "poison", cleanStart: false)
            back.close()
            let clean = try RawMQTTClient(port: broker.port)
            try await clean.connect(.v311, clientID: "poison", cleanStart: true)
            clean.close()
            try await Helpers.expectBrokerServesOthers(broker, version: .v5)
            // The rows are gone: the next start has nothing to refuse.
            broker.stop()
            try await broker.start()
            try await Helpers.expectBrokerServesOthers(broker, version: .v311)
            #expect(!broker.stderr.contains("rows with topics deeper than 200 levels removed"))
        }
    }
}
