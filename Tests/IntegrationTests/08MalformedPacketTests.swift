import MeridianTestSupport
import Testing

/// One misbehaving client: what it sends, and what the broker owes it.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let version: MQTTVersion
    /// Whether a valid CONNECT (and its CONNACK) comes before `bytes`.
    var connectFirst = true
    /// Extra broker config lines.
    var options: [String] = []
    let bytes: [UInt8]
    /// The 5.0 DISCONNECT reason Meridian must send before closing. Where nil, a
    /// DISCONNECT is optional, but if sent its reason must be an error (>= 0x80).
    var meridianReason: UInt8? = nil

    var testDescription: String { "\(name) (\(version))" }

    static func publish(_ version: MQTTVersion, topic: [UInt8], firstByte: UInt8 = 0x30, properties: [UInt8] = []) -> [UInt8] {
        var packet = RawPacket.publish(version, topicBytes: topic, payload: Array("x".utf8), properties: properties)
        packet[0] = firstByte
        return packet
    }

    static let all: [MalformedCase] = MQTTVersion.allCases.flatMap { version -> [MalformedCase] in
        let filterBody = RawPacket.uint16(1) + (version == .v5 ? [0] : []) + RawPacket.string("a/b") + [0]
        var cases = [
            MalformedCase(name: "PUBLISH before CONNECT", version: version, connectFirst: false,
                          bytes: RawPacket.publish(version, topic: "a/b", payload: "x")),
            MalformedCase(name: "PINGREQ before CONNECT", version: version, connectFirst: false, bytes: RawPacket.pingreq),
            MalformedCase(name: "CONNECT with the reserved flag bit set", version: version, connectFirst: false,
                          bytes: { var c = RawPacket.connect(version, clientID: "reserved"); c[9] |= 0x01; return c }()),
            MalformedCase(name: "second CONNECT", version: version,
                          bytes: RawPacket.connect(version, clientID: "again"), meridianReason: 0x82),
            MalformedCase(name: "PUBLISH to a topic with +", version: version, bytes: publish(version, topic: Array("a/+/c".utf8))),
            MalformedCase(name: "PUBLISH to a topic with #", version: version, bytes: publish(version, topic: Array("a/#".utf8))),
            MalformedCase(name: "PUBLISH with QoS 3", version: version,
                          bytes: RawPacket.frame(0x36, RawPacket.string("a/b") + [0, 1] + (version == .v5 ? [0] : []) + [0x78])),
            MalformedCase(name: "SUBSCRIBE with reserved flags 0000", version: version, bytes: RawPacket.frame(0x80, filterBody)),
            MalformedCase(name: "PUBREL with reserved flags 0000", version: version, bytes: RawPacket.frame(0x60, RawPacket.uint16(1))),
            MalformedCase(name: "SUBSCRIBE without a topic filter", version: version,
                          bytes: RawPacket.frame(0x82, RawPacket.uint16(1) + (version == .v5 ? [0] : []))),
            MalformedCase(name: "PUBLISH with invalid UTF-8 in the topic", version: version, bytes: publish(version, topic: [0x61, 0xFF, 0x62])),
            MalformedCase(name: "PUBLISH with U+0000 in the topic", version: version, bytes: publish(version, topic: [0x61, 0x00, 0x62])),
            MalformedCase(name: "PUBLISH with an empty topic and no alias", version: version, bytes: publish(version, topic: [])),
            MalformedCase(name: "remaining length of 5 bytes", version: version, bytes: [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
            MalformedCase(name: "reserved packet type 0", version: version, bytes: [0x00, 0x00]),
            MalformedCase(name: "packet larger than max_packet_size", version: version, options: ["max_packet_size 1024"],
                          bytes: RawPacket.publish(version, topic: "a/b", payload: String(repeating: "x", count: 4096)),
                          meridianReason: 0x95),
        ]
        if version == .v5 {
            cases += [
                MalformedCase(name: "PUBLISH with an unknown property", version: version,
                              bytes: publish(version, topic: Array("a/b".utf8), properties: [0x7F, 0x00])),
                MalformedCase(name: "PUBLISH with topic alias 0", version: version,
                              bytes: publish(version, topic: Array("a/b".utf8), properties: RawProperty.topicAlias(0))),
                MalformedCase(name: "PUBLISH with an unmapped alias and an empty topic", version: version,
                              bytes: publish(version, topic: [], properties: RawProperty.topicAlias(1))),
            ]
        }
        return cases
    }
}

extension BrokerIntegration {
    @Suite("08 Malformed packets", .serialized)
    struct MalformedPacketTests {
        @Test("the broker closes the connection and keeps serving others", arguments: MalformedCase.all)
        func closesAndKeepsServing(_ malformed: MalformedCase) async throws {
            let broker = try await BrokerProcess.started(options: malformed.options)
            defer { broker.cleanup() }

            let client = try RawMQTTClient(port: broker.port)
            if malformed.connectFirst {
                try await client.connect(malformed.version, clientID: Helpers.unique("bad"))
            }
            // The broker may close before it has read everything: a failed send is fine.
            try? client.send(malformed.bytes)
            let frames = try await client.waitForClose()

            if !malformed.connectFirst || malformed.bytes.first == 0x10 {
                #expect(!frames.contains { $0.type == PacketType.connack && $0.body.count >= 2 && $0.body[1] == 0 },
                        "a bad CONNECT was accepted: \(frames)")
            }
            Self.checkDisconnect(frames, version: malformed.version, required: malformed.meridianReason)
            try await Helpers.expectBrokerServesOthers(broker, version: malformed.version)
        }

        @Test("5.0: a topic alias above the broker's Topic Alias Maximum gets DISCONNECT 0x94")
        func topicAliasAboveMaximum() async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }

            let client = try RawMQTTClient(port: broker.port)
            let connack = try await client.connect(.v5, clientID: Helpers.unique("alias"))
            let maximum = RawProperties.integer(try RawProperties.ofConnack(connack)[0x22]) ?? 0
            try #require(maximum < 0xFFFF, "Topic Alias Maximum is 65535: no alias is above it")
            try? client.send(MalformedCase.publish(.v5, topic: Array("a/b".utf8), properties: RawProperty.topicAlias(UInt16(maximum + 1))))
            let frames = try await client.waitForClose()
            #expect(frames.map(\.disconnectReason) == [0x94], "got \(frames)")
            try await Helpers.expectBrokerServesOthers(broker)
        }

        @Test("a connection that sends no CONNECT is closed (Meridian only: mosquitto waits 90 s)",
              .enabled(if: BrokerIntegration.isMeridian, "mosquitto 2.0.11 closes it only after 1.5 x its 60 s default keep-alive"))
        func noConnectTimeout() async throws {
            let broker = try await BrokerProcess.started(options: ["connect_timeout 2"])
            defer { broker.cleanup() }

            let client = try RawMQTTClient(port: broker.port)
            let frames = try await client.waitForClose(timeout: .seconds(6))
            #expect(frames.isEmpty, "sent \(frames) to a client that never connected")
            try await Helpers.expectBrokerServesOthers(broker)
        }

        /// 3.1.1 has no server DISCONNECT. In 5.0 Meridian must send `required` when
        /// given; any DISCONNECT sent must carry an error reason. The broker must send
        /// nothing after it.
        static func checkDisconnect(_ frames: [RawFrame], version: MQTTVersion, required: UInt8?) {
            let disconnects = frames.filter { $0.type == PacketType.disconnect }
            switch version {
            case .v311:
                #expect(disconnects.isEmpty, "3.1.1 server sent DISCONNECT: \(frames)")
            case .v5:
                if let index = frames.firstIndex(where: { $0.type == PacketType.disconnect }) {
                    #expect(index == frames.count - 1, "frames after DISCONNECT: \(frames)")
                }
                #expect(disconnects.allSatisfy { ($0.disconnectReason ?? 0) >= 0x80 }, "DISCONNECT without an error reason: \(frames)")
                if let required, BrokerIntegration.isMeridian {
                    #expect(disconnects.map(\.disconnectReason) == [required], "expected DISCONNECT 0x\(String(required, radix: 16)), got \(frames)")
                }
            }
        }
    }
}
