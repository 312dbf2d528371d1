import Foundation
import MeridianTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension BrokerIntegration {
    /// Authorisation with a Mosquitto ACL file: devices isolated by `%u` and `%c` patterns on
    /// publish, subscribe and delivery, `$SYS` only where granted, and reloading on SIGHUP.
    @Suite("23 ACL", .serialized)
    struct ACLTests {
        static let password = "device-secret"

        static let acl = """
            # Each device owns devices/<username>/... and clients/<client id>/...
            pattern readwrite devices/%u/#
            pattern readwrite clients/%c/#

            user auditor
            topic read #
            topic deny devices/dev-b/#

            user ops
            topic read $SYS/#

            user admin
            topic readwrite devices/#
            topic readwrite alive/#

            user dev-a
            topic read alive/#
            """

        /// A broker with users dev-a, dev-b, auditor, ops and admin (password ``password``) and `acl`.
        static func broker(acl: String = acl, options: [String] = []) async throws -> (BrokerProcess, SecurityFixtures) {
            let fixtures = try SecurityFixtures()
            for user in ["dev-a", "dev-b", "auditor", "ops", "admin"] {
                try await fixtures.addUser(user, password: password)
            }
            try fixtures.writeACL(acl)
            let broker = try await BrokerProcess.started(options: fixtures.options + options)
            return (broker, fixtures)
        }

        static func credentials(_ user: String) -> [String] { ["-u", user, "-P", password] }

        /// A raw client logged in as `user`.
        static func rawClient(_ broker: BrokerProcess, _ version: MQTTVersion, user: String, clientID: String? = nil) async throws -> RawMQTTClient {
            let client = try RawMQTTClient(port: broker.port)
            try await client.connect(version, clientID: clientID ?? Helpers.unique(user), username: user, password: password)
            return client
        }

        static func publish(_ broker: BrokerProcess, _ version: MQTTVersion, as user: String, topic: String, message: String, qos: Int = 1) async throws {
            try await MosquittoPub.publish(
                port: broker.port, version: version, topic: topic, message: message, qos: qos, extra: credentials(user))
        }

        @Test("a device cannot publish to another device's topics: 0x87 on PUBACK and PUBREC in 5.0, dropped in 3.1.1",
              arguments: MQTTVersion.allCases)
        func publishDenied(version: MQTTVersion) async throws {
            let (broker, fixtures) = try await Self.broker()
            defer { broker.cleanup(); fixtures.cleanup() }
            let b = try await MosquittoSub.start(
                port: broker.port, version: version, topics: ["devices/dev-b/#"], qos: 1, extra: Self.credentials("dev-b"))
            defer { b.cleanup() }

            let a = try await Self.rawClient(broker, version, user: "dev-a")
            defer { a.close() }
            try a.send(RawPacket.publish(version, topic: "devices/dev-b/cmd", payload: "forged-1", qos: 1, packetID: 1))
            let puback = try await a.expectPacket(PacketType.puback)
            try a.send(RawPacket.publish(version, topic: "devices/dev-b/cmd", payload: "forged-2", qos: 2, packetID: 2))
            let pubrec = try await a.expectPacket(PacketType.pubrec)
            try a.send(RawPacket.publish(version, topic: "devices/dev-b/cmd", payload: "forged-0", qos: 0))
            try a.send(RawPacket.publish(version, topic: "devices/dev-a/telemetry", payload: "own", qos: 1, packetID: 3))
            let own = try await a.expectPacket(PacketType.puback)
            if version == .v5 {
                #expect(puback.ackReason == 0x87 && pubrec.ackReason == 0x87, "\(puback) \(pubrec)")
                #expect(own.ackReason == 0x10, "no subscriber on the own topic: \(own)")
            } else {
                #expect(puback.ackReason == 0 && pubrec.ackReason == 0, "3.1.1 acknowledges and drops")
            }
            let before = try await Self.sentinelAs("dev-b", b, broker, version, topic: "devices/dev-b/sentinel")
            #expect(before.isEmpty, "dev-b received forged messages: \(before)")
        }

        private static func sentinelAs(
            _ user: String, _ sub: MosquittoSub, _ broker: BrokerProcess, _ version: MQTTVersion, topic: String
        ) async throws -> [ReceivedMessage] {
            let sentinel = Helpers.unique("sentinel")
            try await publish(broker, version, as: user, topic: topic, message: sentinel)
            return Array(try await sub.waitForMessage("sentinel") { $0.text == sentinel }.dropLast())
        }

        @Test("a device cannot subscribe to another device's topics or to #: 0x87 in 5.0, 0x80 in 3.1.1",
              .enabled(if: BrokerIntegration.isMeridian, "mosquitto 2.0 grants every subscription and filters delivery only"),
              arguments: MQTTVersion.allCases)
        func subscribeDenied(version: MQTTVersion) async throws {
            let (broker, fixtures) = try await Self.broker()
            defer { broker.cleanup(); fixtures.cleanup() }
            let a = try await Self.rawClient(broker, version, user: "dev-a", clientID: "client-a")
            defer { a.close() }
            let refused: UInt8 = version == .v5 ? 0x87 : 0x80
            let cases: [(String, UInt8)] = [
                ("devices/dev-b/#", refused), ("#", refused), ("devices/+/telemetry", refused), ("$SYS/#", refused),
                ("devices/dev-a/#", 1), ("clients/client-a/inbox", 1), ("clients/client-b/inbox", refused),
                ("$share/group/devices/dev-a/#", 1), ("$share/group/devices/#", refused),
            ]
            for (index, (filter, expected)) in cases.enumerated() {
                try a.send(RawPacket.subscribe(version, packetID: UInt16(index + 1), filter: filter, options: 1))
                let codes = try await a.expectPacket(PacketType.suback).subackCodes(version)
                #expect(codes == [expected], "SUBACK for \(filter)")
            }
        }

        @Test("a # subscriber receives only what it may read", arguments: MQTTVersion.allCases)
        func wildcardDeliveryFiltered(version: MQTTVersion) async throws {
            let (broker, fixtures) = try await Self.broker()
            defer { broker.cleanup(); fixtures.cleanup() }
            // dev-a may read only its own tree: its # gets nothing else (refused by Meridian, filtered by mosquitto).
            let a = try await MosquittoSub.start(
                port: broker.port, version: version, topics: ["#", "devices/dev-a/#"], qos: 1, extra: Self.credentials("dev-a"))
            defer { a.cleanup() }
            // The auditor may read # except dev-b's tree: its subscription is granted, delivery filters.
            let auditor = try await MosquittoSub.start(
                port: broker.port, version: version, topics: ["#"], qos: 1, extra: Self.credentials("auditor"))
            defer { auditor.cleanup() }

            try await Self.publish(broker, version, as: "dev-b", topic: "devices/dev-b/telemetry", message: "b-private")
            try await Self.publish(broker, version, as: "admin", topic: "alive/x", message: "admin-alive")
            let aBefore = try await Self.sentinelAs("dev-a", a, broker, version, topic: "devices/dev-a/s")
            // (alive/x is readable by dev-a: mosquitto delivers it on #, Meridian refused the # itself.)
            #expect(aBefore.allSatisfy { $0.topic.hasPrefix("alive/") }, "dev-a's # delivered other topics: \(aBefore)")
            let auditorBefore = try await Self.sentinelAs("dev-a", auditor, broker, version, topic: "devices/dev-a/s2")
            #expect(auditorBefore.map(\.text).contains("admin-alive"), "auditor missed a readable topic: \(auditorBefore)")
            #expect(!auditorBefore.map(\.text).contains("b-private"), "auditor got dev-b's topic: \(auditorBefore)")
        }

        @Test("%c patterns: a device publishes under its own client id only")
        func clientIDPattern() async throws {
            let (broker, fixtures) = try await Self.broker()
            defer { broker.cleanup(); fixtures.cleanup() }
            let a = try await Self.rawClient(broker, .v5, user: "dev-a", clientID: "client-a")
            defer { a.close() }
            try a.send(RawPacket.publish(.v5, topic: "clients/client-a/status", payload: "up", qos: 1, packetID: 1))
            #expect(try await a.expectPacket(PacketType.puback).ackReason == 0x10)
            try a.send(RawPacket.publish(.v5, topic: "clients/client-b/status", payload: "up", qos: 1, packetID: 2))
            #expect(try await a.expectPacket(PacketType.puback).ackReason == 0x87)
        }

        @Test("$SYS is readable only where the ACL grants it")
        func sysTopics() async throws {
            let (broker, fixtures) = try await Self.broker(options: ["sys_interval 1"])
            defer { broker.cleanup(); fixtures.cleanup() }
            let ops = try await MosquittoSub.start(
                port: broker.port, version: .v5, topics: ["$SYS/broker/uptime"], extra: Self.credentials("ops"))
            defer { ops.cleanup() }
            try await ops.waitForMessages(count: 1)
            if BrokerIntegration.isMeridian {
                let auditor = try await Self.rawClient(broker, .v5, user: "auditor")
                defer { auditor.close() }
                try auditor.send(RawPacket.subscribe(.v5, packetID: 1, filter: "$SYS/#"))
                #expect(try await auditor.expectPacket(PacketType.suback).subackCodes(.v5) == [0x87])
            }
        }

        @Test("a will on a topic the device may not write refuses the connection", .enabled(if: BrokerIntegration.isMeridian))
        func willChecked() async throws {
            let (broker, fixtures) = try await Self.broker()
            defer { broker.cleanup(); fixtures.cleanup() }
            for version in MQTTVersion.allCases {
                let client = try RawMQTTClient(port: broker.port)
                defer { client.close() }
                try client.send(RawPacket.connect(
                    version, clientID: Helpers.unique("will"), will: RawWill(topic: "devices/dev-b/status", payload: "gone"),
                    username: "dev-a", password: Self.password))
                let code = try await client.expectPacket(PacketType.connack).connackCode
                #expect(code == (version == .v5 ? 0x87 : 5))
            }
            let ok = try RawMQTTClient(port: broker.port)
            defer { ok.close() }
            try await ok.connect(
                .v5, clientID: Helpers.unique("will"), will: RawWill(topic: "devices/dev-a/status", payload: "gone"),
                username: "dev-a", password: Self.password)
        }

        @Test("a bridge keeps working under allow_anonymous false and an ACL: its local side is the broker's own",
              .enabled(if: BrokerIntegration.isMeridian, "bridges of meridian-edge"))
        func bridgeIsTrusted() async throws {
            let remote = try await BrokerProcess.started(kind: .mosquitto)
            defer { remote.cleanup() }
            let fixtures = try SecurityFixtures()
            defer { fixtures.cleanup() }
            try await fixtures.addUser("dev-a", password: Self.password)
            try fixtures.writeACL("pattern readwrite devices/%u/#\n")
            let bridge = ["connection uplink", "address 127.0.0.1:\(remote.port)", "remote_clientid edge-acl",
                          "restart_timeout 1 2", "topic devices/# both 1"]
            let edge = try await BrokerProcess.started(options: fixtures.options + bridge)
            defer { edge.cleanup() }
            try await BridgeTests.waitUntilBridgeConnected(edge)

            let cloud = try await MosquittoSub.start(port: remote.port, version: .v5, topics: ["devices/#"], qos: 1)
            defer { cloud.cleanup() }
            let device = try await MosquittoSub.start(
                port: edge.port, version: .v5, topics: ["devices/dev-a/cmd"], qos: 1, extra: Self.credentials("dev-a"))
            defer { device.cleanup() }
            try await Self.publish(edge, .v5, as: "dev-a", topic: "devices/dev-a/telemetry", message: "up")
            try await cloud.waitForMessage("telemetry at the remote") { $0.text == "up" }
            try await MosquittoPub.publish(port: remote.port, version: .v5, topic: "devices/dev-a/cmd", message: "down", qos: 1)
            try await device.waitForMessage("command from the remote") { $0.text == "down" }
        }

        @Test("mTLS: the certificate's CN is %u, so each device gets its own topic space with no password",
              .enabled(if: BrokerIntegration.isMeridian, "TLS listeners of meridian-edge"))
        func certificateIdentityPatterns() async throws {
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            let fixtures = try SecurityFixtures()
            defer { fixtures.cleanup() }
            try await fixtures.addUser("someone-else", password: Self.password)  // neither device is in the file
            try fixtures.writeACL("pattern readwrite devices/%u/#\n")
            let tlsPort = try FreePort.allocate()
            let edge = try await TLSListenerTests.startEdge(
                certificates, tlsPort: tlsPort, options: ["require_certificate true", "use_identity_as_username true"],
                global: fixtures.options)
            defer { edge.cleanup() }

            func pubackReason(_ client: TestCertificates.Pair, topic: String) async throws -> String {
                let result = try await TLSListenerTests.publish(
                    port: tlsPort, certificates: certificates, client: client, topic: topic, extra: ["-d"])
                #expect(result.succeeded, "\(result)\n\(edge.report)")
                return result.stdout.split(separator: "\n").first { $0.contains("PUBACK") }.map(String.init) ?? result.stdout
            }
            #expect(try await pubackReason(certificates.deviceA, topic: "devices/device-a/telemetry").contains("RC:16"))
            #expect(try await pubackReason(certificates.deviceA, topic: "devices/device-b/telemetry").contains("RC:135"))
            #expect(try await pubackReason(certificates.deviceB, topic: "devices/device-b/telemetry").contains("RC:16"))
        }

        @Test("SIGHUP reloads the ACL: a client whose read right was removed stops receiving, and stays connected")
        func reloadRemovesRights() async throws {
            let (broker, fixtures) = try await Self.broker()
            defer { broker.cleanup(); fixtures.cleanup() }
            let a = try await MosquittoSub.start(
                port: broker.port, version: .v5, topics: ["devices/dev-a/#", "alive/dev-a"], qos: 1,
                extra: Self.credentials("dev-a"))
            defer { a.cleanup() }
            try await Self.publish(broker, .v5, as: "admin", topic: "devices/dev-a/cmd", message: "before-reload")
            try await a.waitForMessage("before-reload") { $0.text == "before-reload" }

            try fixtures.writeACL(Self.acl.replacingOccurrences(of: "pattern readwrite devices/%u/#\n", with: ""))
            kill(try #require(broker.pid), SIGHUP)
            // The reload is asynchronous: probe until a message to dev-a's tree no longer arrives.
            let deadline = ContinuousClock.now + .seconds(10)
            var probe = 0
            while true {
                probe += 1
                try await Self.publish(broker, .v5, as: "admin", topic: "devices/dev-a/cmd", message: "probe-\(probe)")
                let before = try await Self.sentinelAs("admin", a, broker, .v5, topic: "alive/dev-a")
                if !before.contains(where: { $0.text == "probe-\(probe)" }) { break }
                if ContinuousClock.now >= deadline { Issue.record("still receiving after SIGHUP\n\(broker.report)"); return }
                try await Task.sleep(for: .milliseconds(50))
            }
            // Stays so, and the client is still connected (the sentinel on a topic it may read arrives).
            try await Self.publish(broker, .v5, as: "admin", topic: "devices/dev-a/cmd", message: "after-reload")
            let after = try await Self.sentinelAs("admin", a, broker, .v5, topic: "alive/dev-a")
            #expect(!after.contains(where: { $0.text == "after-reload" }), "\(after)")
            #expect(a.process.isRunning)
            #expect(!a.process.stdout.contains("received DISCONNECT"))
        }

        @Test("after a restart, the ACL applies to restored persistent sessions at once: messages queue for a device that may read them, not for one that may not",
              .enabled(if: BrokerIntegration.isMeridian))
        func restoredSessionsKeepTheirRights() async throws {
            let (broker, fixtures) = try await Self.broker(options: ["persistence true"])
            defer { broker.cleanup(); fixtures.cleanup() }
            func leave(_ user: String, _ clientID: String, topic: String) async throws {
                try await ProcessRunner.run("mosquitto_sub", [
                    "-h", "127.0.0.1", "-p", "\(broker.port)", "-V", "mqttv311", "-c", "-i", clientID, "-q", "1",
                    "-t", topic, "-E",
                ] + Self.credentials(user)).requireSuccess()
            }
            let deviceID = Helpers.unique("dev-a-persistent"), auditorID = Helpers.unique("auditor-persistent")
            try await leave("dev-a", deviceID, topic: "devices/dev-a/#")
            try await leave("auditor", auditorID, topic: "#")
            #expect(broker.stop() == .success)
            try await broker.start()

            // Before either client is back: one command for each device.
            try await Self.publish(broker, .v311, as: "admin", topic: "devices/dev-b/cmd", message: "for-b")
            try await Self.publish(broker, .v311, as: "admin", topic: "devices/dev-a/cmd", message: "for-a")

            func resume(_ user: String, _ clientID: String, topic: String) async throws -> MosquittoSub {
                try await MosquittoSub.start(
                    port: broker.port, version: .v311, topics: [topic], qos: 1, clientID: clientID, cleanSession: false,
                    extra: Self.credentials(user))
            }
            let device = try await resume("dev-a", deviceID, topic: "devices/dev-a/#")
            defer { device.cleanup() }
            #expect(try await device.waitForMessages(count: 1).map(\.text) == ["for-a"], "\(broker.report)")
            let auditor = try await resume("auditor", auditorID, topic: "#")
            defer { auditor.cleanup() }
            // The auditor may read dev-a's tree but not dev-b's: only "for-a" was queued for it.
            let queued = try await auditor.waitForMessage("for-a at the auditor") { $0.text == "for-a" }
            #expect(!queued.contains { $0.text == "for-b" }, "\(queued)")
        }
    }
}
