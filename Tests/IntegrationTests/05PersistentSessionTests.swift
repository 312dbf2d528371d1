import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("05 Persistent sessions", .serialized)
    struct PersistentSessionTests {
        /// `mosquitto_sub -c -i ID` (and `-x` in 5.0) that subscribes at QoS 1 and exits
        /// with a normal DISCONNECT (-E), leaving a session behind.
        static func leaveSession(port: Int, version: MQTTVersion, clientID: String, topic: String, expiry: UInt32 = 300) async throws {
            var arguments = [
                "-h", "127.0.0.1", "-p", "\(port)", "-V", version.mosquittoName,
                "-c", "-i", clientID, "-q", "1", "-t", topic, "-E",
            ]
            if version == .v5 { arguments += ["-x", "\(expiry)"] }
            try await ProcessRunner.run("mosquitto_sub", arguments).requireSuccess()
        }

        static func resume(port: Int, version: MQTTVersion, clientID: String, topic: String) async throws -> MosquittoSub {
            try await MosquittoSub.start(
                port: port, version: version, topics: [topic], qos: 1, clientID: clientID,
                cleanSession: false, sessionExpiry: version == .v5 ? 300 : nil
            )
        }

        @Test("QoS 1 messages published while a persistent client is away are delivered when it returns", arguments: MQTTVersion.allCases)
        func queuedWhileAway(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let clientID = Helpers.unique("persist")
            let topic = Helpers.unique("queued")

            try await Self.leaveSession(port: broker.port, version: version, clientID: clientID, topic: topic)
            try await MosquittoPub.publishLines(port: broker.port, version: version, topic: topic, lines: ["q1", "q2", "q3"], qos: 1)

            let sub = try await Self.resume(port: broker.port, version: version, clientID: clientID, topic: topic)
            defer { sub.cleanup() }
            let before = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: version, topic: topic)
            #expect(before.map(\.text) == ["q1", "q2", "q3"])
            #expect(before.map(\.qos) == [1, 1, 1])
        }

        @Test("CONNACK reports session present when a persistent session resumes", arguments: MQTTVersion.allCases)
        func sessionPresent(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let clientID = Helpers.unique("present")
            let expiry = version == .v5 ? RawProperty.sessionExpiryInterval(300) : []

            let first = try RawMQTTClient(port: broker.port)
            let connack1 = try await first.connect(version, clientID: clientID, cleanStart: false, properties: expiry)
            #expect(connack1.body[0] == 0)
            try first.send(RawPacket.disconnect(version))
            try await first.waitForClose()

            let second = try RawMQTTClient(port: broker.port)
            let connack2 = try await second.connect(version, clientID: clientID, cleanStart: false, properties: expiry)
            #expect(connack2.body[0] == 1, "session present flag not set on resume")
        }

        @Test("a clean-session connection in between discards the stored session", arguments: MQTTVersion.allCases)
        func cleanSessionDiscards(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let clientID = Helpers.unique("discard")
            let topic = Helpers.unique("discarded")

            try await Self.leaveSession(port: broker.port, version: version, clientID: clientID, topic: topic)
            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: "stale", qos: 1)
            try await ProcessRunner.run("mosquitto_sub", [
                "-h", "127.0.0.1", "-p", "\(broker.port)", "-V", version.mosquittoName, "-i", clientID, "-t", Helpers.unique("other"), "-E",
            ]).requireSuccess()

            let sub = try await Self.resume(port: broker.port, version: version, clientID: clientID, topic: topic)
            defer { sub.cleanup() }
            let before = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: version, topic: topic)
            #expect(before.isEmpty, "message of a discarded session delivered: \(before)")
        }

        @Test("5.0: a session whose expiry interval elapsed is gone, with its queued messages")
        func sessionExpires() async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let clientID = Helpers.unique("expire")
            let topic = Helpers.unique("expired-session")

            try await Self.leaveSession(port: broker.port, version: .v5, clientID: clientID, topic: topic, expiry: 1)
            try await MosquittoPub.publish(port: broker.port, version: .v5, topic: topic, message: "too late", qos: 1)
            // The protocol needs the expiry interval to pass; 1 s plus slack for the broker's timer.
            try await Task.sleep(for: .milliseconds(2_500))

            let client = try RawMQTTClient(port: broker.port)
            let connack = try await client.connect(.v5, clientID: clientID, cleanStart: false, properties: RawProperty.sessionExpiryInterval(300))
            #expect(connack.body[0] == 0, "session present after its expiry interval elapsed")
            try client.send(RawPacket.pingreq)
            let next = try await client.readPacket()
            #expect(next?.type == PacketType.pingresp, "expected nothing queued, got \(String(describing: next))")
        }

        @Test("max_queued_messages bounds the queue of an offline session", arguments: MQTTVersion.allCases)
        func queueBound(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started(options: ["max_queued_messages 3"])
            defer { broker.cleanup() }
            let clientID = Helpers.unique("bounded")
            let topic = Helpers.unique("bounded")

            try await Self.leaveSession(port: broker.port, version: version, clientID: clientID, topic: topic)
            let published = (1...6).map { "b\($0)" }
            try await MosquittoPub.publishLines(port: broker.port, version: version, topic: topic, lines: published, qos: 1)

            let sub = try await Self.resume(port: broker.port, version: version, clientID: clientID, topic: topic)
            defer { sub.cleanup() }
            let before = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: version, topic: topic)
            #expect(before.count == 3, "expected 3 queued messages, got \(before)")
            // Whatever was kept keeps its order.
            let indices = before.compactMap { published.firstIndex(of: $0.text) }
            #expect(indices.count == before.count && indices == indices.sorted())
            if BrokerIntegration.isMeridian {
                // Meridian never drops silently: the drop is logged.
                #expect(broker.stderr.lowercased().contains("drop"), "no log line about the dropped messages:\n\(broker.stderr)")
            }
        }
    }
}
