import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("02 Publish and QoS", .serialized)
    struct PublishQoSTests {
        static let versionsAndQoS: [(MQTTVersion, Int)] = MQTTVersion.allCases.flatMap { version in
            (0...2).map { (version, $0) }
        }

        @Test("a QoS 0/1/2 publish reaches a QoS 2 subscriber with its payload exactly", arguments: versionsAndQoS)
        func publishAtEachQoS(version: MQTTVersion, qos: Int) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("qos\(qos)") + "/sensor/1"
            let payload = "qos \(qos) héllo ✓ {\"t\":21.5}"

            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 2)
            defer { sub.cleanup() }
            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: payload, qos: qos)

            let messages = try await sub.waitForMessages(count: 1)
            #expect(messages == [ReceivedMessage(topic: topic, qos: qos, retain: false, payload: Array(payload.utf8))])
        }

        @Test("delivery QoS is the minimum of publish and subscription QoS", arguments: MQTTVersion.allCases)
        func downgradedToSubscriptionQoS(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("downgrade")

            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
            defer { sub.cleanup() }
            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: "two", qos: 2)

            let messages = try await sub.waitForMessages(count: 1)
            #expect(messages.map(\.qos) == [1])
        }

        @Test("a 200 KB payload arrives byte for byte", arguments: MQTTVersion.allCases)
        func largePayload(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("large")
            let payload = String((0..<200_000).map { i in Character(UnicodeScalar(UInt8(97 + i % 26))) })

            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
            defer { sub.cleanup() }
            try await ProcessRunner.run(
                "mosquitto_pub",
                ["-h", "127.0.0.1", "-p", "\(broker.port)", "-V", version.mosquittoName, "-t", topic, "-q", "1", "-s"],
                stdin: payload
            ).requireSuccess()

            let messages = try await sub.waitForMessages(count: 1)
            #expect(messages.first?.payload.count == 200_000)
            #expect(messages.first?.text == payload)
        }

        @Test("QoS 1 messages from one publisher arrive in order", arguments: MQTTVersion.allCases)
        func ordering(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("order")
            let lines = (1...50).map { "m\($0)" }

            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
            defer { sub.cleanup() }
            try await MosquittoPub.publishLines(port: broker.port, version: version, topic: topic, lines: lines, qos: 1)

            let messages = try await sub.waitForMessages(count: lines.count)
            #expect(messages.map(\.text) == lines)
        }

        @Test("raw QoS 1 and QoS 2 flows: PUBACK, PUBREC, PUBCOMP carry the packet id", arguments: MQTTVersion.allCases)
        func rawAcknowledgements(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("acks")

            let client = try RawMQTTClient(port: broker.port)
            try await client.connect(version, clientID: Helpers.unique("acks"))

            try client.send(RawPacket.publish(version, topic: topic, payload: "one", qos: 1, packetID: 0x1234))
            let puback = try await client.expectPacket(PacketType.puback)
            #expect(Array(puback.body.prefix(2)) == [0x12, 0x34])

            try client.send(RawPacket.publish(version, topic: topic, payload: "two", qos: 2, packetID: 0x0102))
            let pubrec = try await client.expectPacket(PacketType.pubrec)
            #expect(Array(pubrec.body.prefix(2)) == [0x01, 0x02])
            try client.send(RawPacket.ack(PacketType.pubrel, packetID: 0x0102))
            let pubcomp = try await client.expectPacket(PacketType.pubcomp)
            #expect(Array(pubcomp.body.prefix(2)) == [0x01, 0x02])
        }

        @Test("QoS 2 exactly once: PUBLISH, PUBLISH with DUP, PUBREL deliver one message", arguments: MQTTVersion.allCases)
        func qos2DuplicateBeforePubrel(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("exactly-once")

            // QoS 1, not 2: libmosquitto hands a QoS 2 message to mosquitto_sub only at
            // PUBREL, which could let the QoS 1 sentinel overtake it. A duplicate would
            // still show as a second copy.
            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
            defer { sub.cleanup() }

            let client = try RawMQTTClient(port: broker.port)
            try await client.connect(version, clientID: Helpers.unique("dup"))
            try client.send(RawPacket.publish(version, topic: topic, payload: "once", qos: 2, packetID: 1))
            try await client.expectPacket(PacketType.pubrec)
            try client.send(RawPacket.publish(version, topic: topic, payload: "once", qos: 2, packetID: 1, dup: true))
            try await client.expectPacket(PacketType.pubrec)
            try client.send(RawPacket.ack(PacketType.pubrel, packetID: 1))
            try await client.expectPacket(PacketType.pubcomp)

            let before = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: version, topic: topic)
            #expect(before.map(\.text) == ["once"])
        }
    }
}
