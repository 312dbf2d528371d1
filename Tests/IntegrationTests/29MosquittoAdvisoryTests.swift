import Foundation
import MeridianTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension BrokerIntegration {
    /// Mosquitto's security advisories about a broker's behaviour (its ChangeLog names them), one
    /// test each, named after the CVE: the scenario that broke Mosquitto, shown not to affect
    /// Meridian. Advisories about Mosquitto's own code (its client library, plugins, websockets,
    /// `mosquitto_passwd`) have no counterpart here; the README lists which are covered.
    @Suite("29 Mosquitto advisories", .serialized)
    struct MosquittoAdvisoryTests {
        typealias Holes = SecurityHoleTests

        @Test("CVE-2019-11779: SUBSCRIBE to 65,535 '/' does not crash the broker", arguments: MQTTVersion.allCases)
        func cve2019_11779(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            for _ in 0..<2 {
                let client = try RawMQTTClient(port: broker.port)
                defer { client.close() }
                try await client.connect(version, clientID: "deep")
                try client.send(RawPacket.subscribe(version, packetID: 1, filter: Holes.deepFilter, options: 0))
                // Refused (SUBACK failure) or closed, and the client goes: the broker stays.
                if let frame = try await client.readPacket(), frame.type == PacketType.suback {
                    #expect(try frame.subackCodes(version).allSatisfy { $0 >= 0x80 })
                }
                client.close()
            }
            try await Helpers.expectBrokerServesOthers(broker, version: version)
        }

        @Test("CVE-2018-12550: an empty ACL file allows nothing", arguments: ["", "# only a comment\n"])
        func cve2018_12550(aclText: String) async throws {
            let fixtures = try SecurityFixtures()
            defer { fixtures.cleanup() }
            try await fixtures.addUser("alice", password: "alice-pw")
            try fixtures.writeACL(aclText)
            TestPaths.makeReadableByAll(fixtures.directory)
            let broker = try await BrokerProcess.started(options: fixtures.options)
            defer { broker.cleanup() }
            let client = try RawMQTTClient(port: broker.port)
            defer { client.close() }
            try await client.connect(.v5, clientID: "alice", username: "alice", password: "alice-pw")
            try client.send(RawPacket.publish(.v5, topic: "any/topic", payload: "x", qos: 1, packetID: 1))
            #expect(try await client.expectPacket(PacketType.puback).ackReason == 0x87, "publish refused")
            if BrokerIntegration.isMeridian {
                // Mosquitto grants every SUBSCRIBE and filters delivery; Meridian refuses it.
                try client.send(RawPacket.subscribe(.v5, packetID: 2, filter: "#", options: 1))
                #expect(try await client.expectPacket(PacketType.suback).subackCodes(.v5) == [0x87])
            }
        }

        @Test("CVE-2018-12551: a malformed password file stops start-up instead of letting clients in",
              .enabled(if: BrokerIntegration.isMeridian, "Mosquitto drops the bad lines and starts"),
              arguments: ["alice\n", "alice:\n", ":$6$AAAA$AAAA\n", "alice:not-a-hash\n", "\u{1}garbage"])
        func cve2018_12551(passwordText: String) async throws {
            let fixtures = try SecurityFixtures()
            defer { fixtures.cleanup() }
            try Data(passwordText.utf8).write(to: fixtures.passwordFile)
            let broker = try BrokerProcess(options: fixtures.options)
            defer { broker.cleanup() }
            try broker.launch()
            let exit = await broker.waitForExit(timeout: .seconds(10))
            #expect(exit != nil && exit?.code != 0, "started with a malformed password file\n\(broker.report)")
            #expect(broker.stderr.contains("\(fixtures.passwordFile.path):1: "), "file:line\n\(broker.stderr)")
        }

        @Test("CVE-2017-7650: client id '+' or '#' cannot widen a %c pattern into a wildcard", arguments: ["+", "#"])
        func cve2017_7650(clientID: String) async throws {
            let fixtures = try SecurityFixtures()
            defer { fixtures.cleanup() }
            for user in ["dev-a", "admin"] { try await fixtures.addUser(user, password: "pw") }
            try fixtures.writeACL("pattern readwrite devices/%c/#\nuser dev-a\ntopic read alive/#\nuser admin\ntopic readwrite #\n")
            TestPaths.makeReadableByAll(fixtures.directory)
            let broker = try await BrokerProcess.started(options: fixtures.options)
            defer { broker.cleanup() }
            let sub = try await MosquittoSub.start(
                port: broker.port, version: .v5, topics: ["devices/+/#", "alive/#"], qos: 1, clientID: clientID,
                extra: ["-u", "dev-a", "-P", "pw"])
            defer { sub.cleanup() }
            let admin = ["-u", "admin", "-P", "pw"]
            try await MosquittoPub.publish(port: broker.port, version: .v5, topic: "devices/dev-b/secret", message: "secret", qos: 1, extra: admin)
            try await MosquittoPub.publish(port: broker.port, version: .v5, topic: "alive/sentinel", message: "sentinel", qos: 1, extra: admin)
            let received = try await sub.waitForMessage("sentinel") { $0.text == "sentinel" }
            #expect(received.map(\.text) == ["sentinel"], "client id \(clientID) read another device's topic")
        }

        @Test("CVE-2017-7652: a reload that fails keeps the security settings in force",
              .enabled(if: BrokerIntegration.isMeridian, "Meridian's reload"))
        func cve2017_7652() async throws {
            let (broker, fixtures) = try await Holes.aliceAndBob()
            defer { broker.cleanup(); fixtures.cleanup() }
            // The password file disappears: the reload fails, and the previous file stays in force.
            try FileManager.default.removeItem(at: fixtures.passwordFile)
            kill(try #require(broker.pid), SIGHUP)
            try await Helpers.waitUntil("the reload to be refused") {
                broker.stderr.contains("security files not reloaded, the previous ones stay in force")
            }
            #expect(try await AuthTests.connackCode(broker, .v5, username: nil, password: nil) == 0x87, "anonymous still refused")
            #expect(try await AuthTests.connackCode(broker, .v5, username: "mallory", password: "x") == 0x86)
            #expect(try await AuthTests.connackCode(broker, .v5, username: "alice", password: "alice-pw") == 0)
        }

        @Test("CVE-2021-34434: a durable subscriber whose read right was revoked while offline receives nothing queued",
              .enabled(if: BrokerIntegration.isMeridian, "waits for Meridian's reload log line"))
        func cve2021_34434() async throws {
            let (broker, fixtures) = try await Holes.aliceAndBob()
            defer { broker.cleanup(); fixtures.cleanup() }
            try fixtures.writeACL(Holes.aclText + "user alice\ntopic readwrite alive/#\n")
            kill(try #require(broker.pid), SIGHUP)
            try await Helpers.waitUntil("the reload") { broker.stderr.contains("SIGHUP: security reloaded") }
            let alice = try await MosquittoSub.start(
                port: broker.port, version: .v5, topics: ["devices/alice/#", "alive/#"], qos: 1, clientID: "alice-durable",
                cleanSession: false, sessionExpiry: 3600, extra: Holes.credentials("alice"))
            alice.cleanup()
            try await Helpers.waitUntil("alice's connection to close") { !alice.process.isRunning }
            try await MosquittoPub.publish(
                port: broker.port, version: .v5, topic: "devices/alice/queued", message: "queued", qos: 1, extra: Holes.credentials("alice"))
            // alice loses her device topics while offline.
            try fixtures.writeACL("user alice\ntopic readwrite alive/#\ntopic write devices/alice/#\n")
            kill(try #require(broker.pid), SIGHUP)
            try await Helpers.waitUntil("the second reload") {
                broker.stderr.components(separatedBy: "SIGHUP: security reloaded").count > 2
            }
            try await MosquittoPub.publish(
                port: broker.port, version: .v5, topic: "devices/alice/after", message: "after", qos: 1, extra: Holes.credentials("alice"))
            let back = try await MosquittoSub.start(
                port: broker.port, version: .v5, topics: ["alive/#"], qos: 1, clientID: "alice-durable",
                cleanSession: false, sessionExpiry: 3600, extra: Holes.credentials("alice"), waitForSuback: false)
            defer { back.cleanup() }
            try await back.waitUntilSubscribed()
            try await MosquittoPub.publish(
                port: broker.port, version: .v5, topic: "alive/sentinel", message: "sentinel", qos: 1, extra: Holes.credentials("alice"))
            let received = try await back.waitForMessage("sentinel") { $0.text == "sentinel" }
            #expect(received.map(\.text) == ["sentinel"], "revoked messages delivered: \(received)")
        }

        @Test("CVE-2021-34432: PUBLISH with an empty topic closes that connection only", arguments: MQTTVersion.allCases)
        func cve2021_34432(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let client = try RawMQTTClient(port: broker.port)
            defer { client.close() }
            try await client.connect(version, clientID: "empty-topic")
            try client.send(RawPacket.publish(version, topicBytes: [], payload: [0x78], qos: 1, packetID: 1))
            let frames = try await client.waitForClose()
            #expect(frames.allSatisfy { $0.type == PacketType.disconnect })
            try await Helpers.expectBrokerServesOthers(broker, version: version)
        }

        @Test("CVE-2018-12543: topics starting with $ are routed without crashing, and # does not match them")
        func cve2018_12543() async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let all = try await MosquittoSub.start(port: broker.port, version: .v5, topics: ["#"], qos: 1)
            defer { all.cleanup() }
            let dollar = try await MosquittoSub.start(port: broker.port, version: .v5, topics: ["$foo/#"], qos: 1)
            defer { dollar.cleanup() }
            for topic in ["$foo/bar", "$", "$foo"] {
                try await MosquittoPub.publish(port: broker.port, version: .v5, topic: topic, message: topic, qos: 1)
            }
            try await MosquittoPub.publish(port: broker.port, version: .v5, topic: "plain", message: "sentinel", qos: 1)
            let received = try await all.waitForMessage("sentinel") { $0.text == "sentinel" }
            #expect(received.map(\.topic) == ["plain"], "# matched a $ topic: \(received)")
            #expect(try await dollar.waitForMessages(count: 2).map(\.topic) == ["$foo/bar", "$foo"])
            #expect(broker.isRunning)
        }

        @Test("CVE-2023-0809: a first packet that is not CONNECT, with a huge length, is closed at once and allocates nothing")
        func cve2023_0809() async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let client = try RawMQTTClient(port: broker.port)
            defer { client.close() }
            try client.send([0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01])
            _ = try await client.waitForClose(timeout: .seconds(5))
            try await Helpers.expectBrokerServesOthers(broker)
        }

        @Test("CVE-2017-7651: a CONNECT that claims 256 MB and never finishes is closed by connect_timeout",
              .enabled(if: BrokerIntegration.isMeridian, "Mosquitto has no connect_timeout"))
        func cve2017_7651() async throws {
            let broker = try await BrokerProcess.started(options: ["connect_timeout 2"])
            defer { broker.cleanup() }
            var clients: [RawMQTTClient] = []
            defer { for client in clients { client.close() } }
            for _ in 0..<20 {
                let client = try RawMQTTClient(port: broker.port)
                try client.send([0x10, 0xFF, 0xFF, 0xFF, 0x7F] + RawPacket.string("MQTT") + [4, 2, 0, 60])
                clients.append(client)
            }
            try await Helpers.expectBrokerServesOthers(broker)
            for client in clients { _ = try await client.waitForClose(timeout: .seconds(10)) }
            #expect(broker.isRunning)
        }

        @Test("CVE-2021-28166: a client that sends CONNACK is disconnected, and the broker keeps serving",
              arguments: MQTTVersion.allCases)
        func cve2021_28166(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            for packet: [UInt8] in [[0x20, 0x03, 0x00, 0x00, 0x00], [0x20, 0x00], [0x20, 0x02, 0x00, 0x00]] {
                let client = try RawMQTTClient(port: broker.port)
                defer { client.close() }
                try await client.connect(version, clientID: "sends-connack")
                try client.send(packet)
                let frames = try await client.waitForClose()
                #expect(frames.allSatisfy { $0.type == PacketType.disconnect })
            }
            try await Helpers.expectBrokerServesOthers(broker, version: version)
        }

        @Test("CVE-2023-28366: a QoS 2 packet id repeated with DUP is delivered once",
              .enabled(if: BrokerIntegration.isMeridian, "Debian's patched Mosquitto closes the connection on the repeats"),
              arguments: MQTTVersion.allCases)
        func cve2023_28366(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("qos2-repeat")
            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 2)
            defer { sub.cleanup() }
            let client = try RawMQTTClient(port: broker.port)
            defer { client.close() }
            try await client.connect(version, clientID: "repeater")
            for attempt in 0..<5 {
                try client.send(RawPacket.publish(version, topic: topic, payload: "once", qos: 2, packetID: 7, dup: attempt > 0))
                _ = try await client.expectPacket(PacketType.pubrec)
            }
            try client.send(RawPacket.ack(PacketType.pubrel, packetID: 7))
            _ = try await client.expectPacket(PacketType.pubcomp)
            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: "sentinel", qos: 1)
            let received = try await sub.waitForMessage("sentinel") { $0.text == "sentinel" }
            #expect(received.map(\.text) == ["once", "sentinel"])
        }

        @Test("CVE-2024-8376: mixed shared and plain subscribe/unsubscribe sequences answer correctly and crash nothing")
        func cve2024_8376() async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let client = try RawMQTTClient(port: broker.port)
            defer { client.close() }
            try await client.connect(.v5, clientID: "mixed")
            func unsubscribe(_ filter: String, id: UInt16) async throws -> UInt8? {
                try client.send(RawPacket.frame(0xA2, RawPacket.uint16(id) + [0] + RawPacket.string(filter)))
                let frame = try await client.expectPacket(PacketType.unsuback)
                return frame.body.count > 3 ? frame.body[3] : nil
            }
            for filter in ["a/b", "$share/g/a/b", "$share/h/a/b"] {
                try client.send(RawPacket.subscribe(.v5, packetID: 1, filter: filter, options: 1))
                _ = try await client.expectPacket(PacketType.suback)
            }
            #expect(try await unsubscribe("$share/g/a/b", id: 2) == 0x00)
            #expect(try await unsubscribe("$share/g/a/b", id: 3) == 0x11, "no subscription existed")
            #expect(try await unsubscribe("a/b", id: 4) == 0x00)
            // A takeover in the middle of it: the other shared subscription goes with the session.
            let again = try RawMQTTClient(port: broker.port)
            defer { again.close() }
            try await again.connect(.v5, clientID: "mixed", cleanStart: true)
            try again.send(RawPacket.frame(0xA2, RawPacket.uint16(5) + [0] + RawPacket.string("$share/h/a/b")))
            let frame = try await again.expectPacket(PacketType.unsuback)
            #expect(frame.body.count > 3 && frame.body[3] == 0x11)
            try await Helpers.expectBrokerServesOthers(broker)
        }
    }
}
