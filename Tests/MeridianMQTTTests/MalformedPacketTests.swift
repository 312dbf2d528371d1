import MeridianMQTT
import NIOCore
import Testing

/// One test per decoding rule: each feeds a packet that breaks it and checks the error code.
@Suite struct MalformedPacketTests {
    // MARK: Fixed header

    @Test func reservedPacketTypeZero() {
        expectCodecError(.malformedPacket, [0x00, 0x00])
    }

    @Test func remainingLengthOverFourBytes() {
        expectCodecError(.malformedPacket, [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        // Known from the fourth byte already, without the fifth.
        expectCodecError(.malformedPacket, [0x30, 0x80, 0x80, 0x80, 0x80])
    }

    @Test func incompleteInputReturnsNilAndKeepsTheReaderIndex() throws {
        let whole = encodedBytes(SamplePackets.v5[0], version: .v5)
        for cut in 0..<whole.count {
            var parser = MQTTPacketParser(role: .server)
            var buffer = ByteBuffer(bytes: Array(whole[..<cut]))
            #expect(try parser.next(from: &buffer) == nil)
            #expect(buffer.readerIndex == 0)
            #expect(parser.protocolVersion == nil)
        }
    }

    @Test func packetLargerThanTheMaximumIsRejectedFromTheHeader() throws {
        // 1 + 2 + 1000 bytes announced, only the fixed header present.
        expectCodecError(.packetTooLarge, [0x30, 0xE8, 0x07], maximumPacketSize: 1002)
        var parser = MQTTPacketParser(role: .client, protocolVersion: .v5, maximumPacketSize: 1003)
        var buffer = ByteBuffer(bytes: [0x30, 0xE8, 0x07])
        #expect(try parser.next(from: &buffer) == nil)
    }

    @Test(arguments: [
        UInt8(0x61),  // PUBREL needs 0010
        0x80,  // SUBSCRIBE needs 0010
        0xA0,  // UNSUBSCRIBE needs 0010
        0x42,  // PUBACK needs 0000
        0x51, 0x78, 0xC1, 0xD8, 0xE2, 0xF1, 0x24, 0x9F, 0xB4, 0x18,
    ])
    func reservedFlagBits(typeAndFlags: UInt8) {
        expectCodecError(.malformedPacket, [typeAndFlags, 0x02, 0x00, 0x01])
    }

    @Test func publishQoS3() {
        expectCodecError(.malformedPacket, packet(0x36, str("t") + [0x00, 0x01]))
    }

    @Test func publishDupWithQoS0() {
        expectCodecError(.malformedPacket, packet(0x38, str("t")))
    }

    @Test func firstPacketNotConnect() {
        expectCodecError(.protocolError, [0xC0, 0x00], role: .server, version: nil)
        // Rejected from the header, before the body arrives.
        expectCodecError(.protocolError, [0x30, 0x7F], role: .server, version: nil)
    }

    @Test func clientWithoutVersion() {
        expectCodecError(.protocolError, [0x20, 0x02, 0x00, 0x00], role: .client, version: nil)
    }

    @Test func authBeforeMQTT5() {
        expectCodecError(.malformedPacket, [0xF0, 0x00], version: .v3_1_1)
    }

    @Test func pingWithBody() {
        expectCodecError(.malformedPacket, [0xC0, 0x01, 0x00])
        expectCodecError(.malformedPacket, [0xD0, 0x01, 0x00], version: .v3_1_1)
    }

    @Test func errorsCarryThePacketType() throws {
        var parser = MQTTPacketParser(role: .client, protocolVersion: .v5)
        var buffer = ByteBuffer(bytes: [0x40, 0x02, 0x00, 0x00])
        #expect(throws: MQTTCodecError(.protocolError, "packet identifier 0", packetType: .puback)) {
            try parser.next(from: &buffer)
        }
    }

    // MARK: CONNECT

    static func connect(name: String = "MQTT", level: UInt8 = 5, flags: UInt8 = 0x02, rest: [UInt8]? = nil) -> [UInt8] {
        let tail = rest ?? ([0x00] + str("c"))  // empty properties, client id "c"
        let body = str(name) + [level, flags, 0x00, 0x3C] + (level == 5 ? tail : Array(tail.dropFirst()))
        return packet(0x10, body)
    }

    @Test func unknownProtocolLevel() throws {
        var parser = MQTTPacketParser(role: .server)
        var buffer = ByteBuffer(bytes: Self.connect(level: 6))
        #expect(throws: MQTTCodecError.self) { try parser.next(from: &buffer) }
        #expect(parser.protocolVersion == nil)
        expectCodecError(.unsupportedProtocolVersion, Self.connect(level: 6), role: .server, version: nil)
        expectCodecError(.unsupportedProtocolVersion, Self.connect(level: 3), role: .server, version: nil)
        expectCodecError(.unsupportedProtocolVersion, Self.connect(name: "MQIsdp", level: 4), role: .server, version: nil)
    }

    @Test func unknownProtocolName() {
        expectCodecError(.protocolError, Self.connect(name: "MQTX", level: 4), role: .server, version: nil)
    }

    @Test func connectSetsTheVersion() throws {
        for (name, level, version) in [("MQTT", UInt8(4), MQTTProtocolVersion.v3_1_1), ("MQTT", 5, .v5), ("MQIsdp", 3, .v3_1)] {
            var parser = MQTTPacketParser(role: .server)
            var buffer = ByteBuffer(bytes: Self.connect(name: name, level: level))
            guard case .connect(let connect) = try parser.next(from: &buffer) else {
                Issue.record("not CONNECT")
                continue
            }
            #expect(connect.protocolVersion == version)
            #expect(parser.protocolVersion == version)
        }
    }

    @Test func secondConnectIsDecoded() throws {
        var parser = MQTTPacketParser(role: .server)
        var buffer = ByteBuffer(bytes: Self.connect(level: 5) + Self.connect(level: 4))
        #expect(try parser.next(from: &buffer)?.type == .connect)
        #expect(try parser.next(from: &buffer)?.type == .connect)
        #expect(parser.protocolVersion == .v5)
    }

    @Test func connectReservedFlag() {
        expectCodecError(.malformedPacket, Self.connect(flags: 0x03), role: .server, version: nil)
    }

    @Test func connectWillQoS3() {
        let rest: [UInt8] = [0x00] + str("c") + [0x00] + str("w") + raw([])
        expectCodecError(.malformedPacket, Self.connect(flags: 0x1C, rest: rest), role: .server, version: nil)
    }

    @Test func connectWillQoSOrRetainWithoutWill() {
        expectCodecError(.malformedPacket, Self.connect(flags: 0x08), role: .server, version: nil)
        expectCodecError(.malformedPacket, Self.connect(flags: 0x20), role: .server, version: nil)
    }

    @Test func passwordWithoutUsername() throws {
        let v3 = Self.connect(level: 4, flags: 0x40, rest: [0x00] + str("c") + raw([1]))
        expectCodecError(.malformedPacket, v3, role: .server, version: nil)
        let v5 = Self.connect(level: 5, flags: 0x40, rest: [0x00] + str("c") + raw([1]))
        guard case .connect(let connect) = try decodeOne(v5, role: .server, version: nil) else {
            Issue.record("not CONNECT")
            return
        }
        #expect(connect.username == nil)
        #expect(connect.password == ByteBuffer(bytes: [1]))
    }

    @Test func connectTrailingBytes() {
        expectCodecError(.malformedPacket, Self.connect(rest: [0x00] + str("c") + [0xAA]), role: .server, version: nil)
    }

    @Test func connectTruncatedPayload() {
        expectCodecError(.malformedPacket, Self.connect(rest: [0x00, 0x00, 0x05, 0x61]), role: .server, version: nil)
    }

    @Test func willTopicWithWildcard() {
        let rest: [UInt8] = [0x00] + str("c") + [0x00] + str("w/#") + raw([])
        expectCodecError(.topicNameInvalid, Self.connect(flags: 0x06, rest: rest), role: .server, version: nil)
    }

    @Test func willPropertyInConnectProperties() {
        let rest: [UInt8] = [0x05, 0x18, 0x00, 0x00, 0x00, 0x01] + str("c")
        expectCodecError(.protocolError, Self.connect(rest: rest), role: .server, version: nil)
    }

    @Test func connectPropertyInWillProperties() {
        let rest: [UInt8] = [0x00] + str("c") + [0x05, 0x11, 0x00, 0x00, 0x00, 0x01] + str("w") + raw([])
        expectCodecError(.protocolError, Self.connect(flags: 0x06, rest: rest), role: .server, version: nil)
    }

    // MARK: UTF-8

    @Test(arguments: [
        [UInt8(0xC3), 0x28],  // bad continuation
        [0xC0, 0xAF],  // overlong "/"
        [0xE0, 0x80, 0xAF],  // overlong three-byte
        [0xED, 0xA0, 0x80],  // surrogate U+D800
        [0xED, 0xBF, 0xBF],  // surrogate U+DFFF
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xF5, 0x80, 0x80, 0x80],
        [0x61, 0x00, 0x62],  // U+0000
        [0xE2, 0x82],  // truncated sequence
        [0x80],  // lone continuation
        Array("abcdefgh\u{0}ijklmnop".utf8),  // U+0000 inside an ASCII run
    ])
    func invalidUTF8InTopic(_ topic: [UInt8]) {
        expectCodecError(.malformedPacket, packet(0x30, raw(topic) + [0x00]))
        expectCodecError(.malformedPacket, packet(0x30, raw(topic)), version: .v3_1_1)
    }

    @Test func invalidUTF8InClientIdentifier() {
        expectCodecError(.malformedPacket, Self.connect(rest: [0x00] + raw([0xED, 0xA0, 0x80])), role: .server, version: nil)
        expectCodecError(.malformedPacket, Self.connect(rest: [0x00] + raw([0x00])), role: .server, version: nil)
    }

    @Test func invalidUTF8InUserProperty() {
        let properties: [UInt8] = [0x26] + str("k") + raw([0xC0, 0x80])
        expectCodecError(.malformedPacket, packet(0x30, str("t") + [UInt8(properties.count)] + properties))
    }

    @Test func validUTF8IsAccepted() throws {
        let topic = "a/ü/€/😀/\u{1}/\u{7F}/\u{FFFF}"
        #expect(try decodeOne(packet(0x30, str(topic) + [0x00])) == .publish(MQTTPublish(topic: topic, payload: ByteBuffer())))
    }

    // MARK: PUBLISH

    @Test func publishTopicWithWildcard() {
        expectCodecError(.topicNameInvalid, packet(0x30, str("a/+") + [0x00]))
        expectCodecError(.topicNameInvalid, packet(0x30, str("a/#")), version: .v3_1_1)
    }

    @Test func publishEmptyTopic() {
        expectCodecError(.protocolError, packet(0x30, str("") + [0x00]))
        expectCodecError(.topicNameInvalid, packet(0x30, str("")), version: .v3_1_1)
    }

    @Test func topicAliasZero() {
        expectCodecError(.topicAliasInvalid, packet(0x30, str("") + [0x03, 0x23, 0x00, 0x00]))
        expectCodecError(.topicAliasInvalid, packet(0x30, str("t") + [0x03, 0x23, 0x00, 0x00]))
    }

    @Test func publishPacketIdentifierZero() {
        expectCodecError(.protocolError, packet(0x32, str("t") + [0x00, 0x00, 0x00]))
        expectCodecError(.protocolError, packet(0x34, str("t") + [0x00, 0x00]), version: .v3_1_1)
    }

    @Test func publishTruncatedPacketIdentifier() {
        expectCodecError(.malformedPacket, packet(0x32, str("t") + [0x00]))
    }

    @Test func subscriptionIdentifierFromAClient() throws {
        let bytes = packet(0x30, str("t") + [0x02, 0x0B, 0x01])
        expectCodecError(.protocolError, bytes, role: .server, version: .v5)
        #expect(try decodeOne(bytes, role: .client)?.type == .publish)
    }

    // MARK: Properties

    @Test func unknownProperty() {
        expectCodecError(.malformedPacket, packet(0x30, str("t") + [0x02, 0x7F, 0x00]))
        expectCodecError(.malformedPacket, packet(0x30, str("t") + [0x02, 0x00, 0x00]))
        expectCodecError(.malformedPacket, packet(0xE0, [0x00, 0x02, 0x04, 0x00]))
    }

    @Test func propertyInTheWrongPacket() {
        // Session Expiry Interval in PUBLISH, Topic Alias in PUBACK, Reason String in SUBSCRIBE.
        expectCodecError(.protocolError, packet(0x30, str("t") + [0x05, 0x11, 0x00, 0x00, 0x00, 0x01]))
        expectCodecError(.protocolError, packet(0x40, [0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01]))
        expectCodecError(.protocolError, packet(0x82, [0x00, 0x01, 0x04, 0x1F] + str("r") + str("f") + [0x00]))
    }

    /// Every property in every packet that does not allow it (MQTT 5.0 table 2-4).
    @Test(arguments: MQTTPropertyIdentifier.allCases)
    func propertyNotAllowed(_ identifier: MQTTPropertyIdentifier) {
        for context in SamplePackets.allContexts where !identifier.allowedContexts.contains(context) {
            let packet = SamplePackets.packet(context, properties: [SamplePackets.sample(identifier)])
            expectCodecError(.protocolError, encodedBytes(packet, version: .v5))
        }
    }

    @Test func duplicateProperty() {
        let twice: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x02]
        expectCodecError(.protocolError, packet(0x30, str("t") + [UInt8(twice.count)] + twice))
        // Subscription Identifier may repeat in PUBLISH but not in SUBSCRIBE.
        expectCodecError(.protocolError, packet(0x82, [0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02] + str("f") + [0x00]))
    }

    @Test func repeatableProperties() throws {
        let properties: [UInt8] = [0x26] + str("a") + str("1") + [0x26] + str("a") + str("2")
        let decoded = try decodeOne(packet(0x30, str("t") + [UInt8(properties.count)] + properties))
        guard case .publish(let publish) = decoded else {
            Issue.record("not PUBLISH")
            return
        }
        #expect(publish.properties.userProperties.map { $0.1 } == ["1", "2"])
    }

    @Test func propertyOutOfRange() {
        func connect(_ properties: [UInt8]) -> [UInt8] { Self.connect(rest: [UInt8(properties.count)] + properties + str("c")) }
        expectCodecError(.protocolError, connect([0x21, 0x00, 0x00]), role: .server, version: nil)  // Receive Maximum 0
        expectCodecError(.protocolError, connect([0x27, 0, 0, 0, 0]), role: .server, version: nil)  // Maximum Packet Size 0
        expectCodecError(.protocolError, connect([0x17, 0x02]), role: .server, version: nil)  // Request Problem Information 2
        expectCodecError(.protocolError, connect([0x19, 0x02]), role: .server, version: nil)  // Request Response Information 2
        expectCodecError(.protocolError, packet(0x30, str("t") + [0x02, 0x01, 0x02]))  // Payload Format Indicator 2
        expectCodecError(.protocolError, packet(0x20, [0x00, 0x00, 0x02, 0x24, 0x02]))  // Maximum QoS 2
        expectCodecError(.protocolError, packet(0x20, [0x00, 0x00, 0x02, 0x25, 0x02]))  // Retain Available 2
        expectCodecError(.protocolError, packet(0x30, str("t") + [0x02, 0x0B, 0x00]))  // Subscription Identifier 0
    }

    @Test func propertyLengthPastThePacket() {
        expectCodecError(.malformedPacket, packet(0x30, str("t") + [0x09, 0x01, 0x01]))
        expectCodecError(.malformedPacket, packet(0x30, str("t") + [0x02, 0x02, 0x00]))  // truncated value
        expectCodecError(.malformedPacket, packet(0x30, str("t") + [0x80]))  // truncated property length
    }

    // MARK: Acknowledgements, DISCONNECT

    @Test func ackPacketIdentifierZero() {
        for type: UInt8 in [0x40, 0x50, 0x62, 0x70] {
            expectCodecError(.protocolError, [type, 0x02, 0x00, 0x00])
            expectCodecError(.protocolError, [type, 0x02, 0x00, 0x00], version: .v3_1_1)
        }
    }

    @Test func ackLengthIn311() {
        expectCodecError(.malformedPacket, [0x40, 0x03, 0x00, 0x01, 0x00], version: .v3_1_1)
        expectCodecError(.malformedPacket, [0x40, 0x01, 0x00], version: .v3_1_1)
        expectCodecError(.malformedPacket, [0x40, 0x01, 0x00])
        expectCodecError(.malformedPacket, [0xB0, 0x03, 0x00, 0x01, 0x00], version: .v3_1_1)
        expectCodecError(.malformedPacket, [0x20, 0x03, 0x00, 0x00, 0x00], version: .v3_1_1)
    }

    @Test func disconnectWithBodyIn311() {
        expectCodecError(.malformedPacket, [0xE0, 0x01, 0x00], version: .v3_1_1)
    }

    @Test func trailingBytesAfterProperties() {
        expectCodecError(.malformedPacket, [0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0xAA])
        expectCodecError(.malformedPacket, [0xE0, 0x03, 0x00, 0x00, 0xAA])
        expectCodecError(.malformedPacket, [0x20, 0x04, 0x00, 0x00, 0x00, 0xAA])
    }

    @Test func connackReservedFlags() {
        expectCodecError(.malformedPacket, [0x20, 0x03, 0x02, 0x00, 0x00])
    }

    // MARK: SUBSCRIBE, UNSUBSCRIBE, SUBACK

    @Test func subscribeWithoutFilters() {
        expectCodecError(.protocolError, [0x82, 0x03, 0x00, 0x01, 0x00])
        expectCodecError(.protocolError, [0x82, 0x02, 0x00, 0x01], version: .v3_1_1)
    }

    @Test func unsubscribeWithoutFilters() {
        expectCodecError(.protocolError, [0xA2, 0x03, 0x00, 0x01, 0x00])
        expectCodecError(.protocolError, [0xA2, 0x02, 0x00, 0x01], version: .v3_1_1)
    }

    @Test func subscribePacketIdentifierZero() {
        expectCodecError(.protocolError, packet(0x82, [0x00, 0x00, 0x00] + str("f") + [0x00]))
        expectCodecError(.protocolError, packet(0xA2, [0x00, 0x00] + str("f")), version: .v3_1_1)
    }

    @Test func subscriptionOptions() {
        func subscribe(_ options: UInt8, _ version: MQTTProtocolVersion) -> [UInt8] {
            packet(0x82, [0x00, 0x01] + (version.isV5 ? [0x00] : []) + str("f") + [options])
        }
        expectCodecError(.malformedPacket, subscribe(0x04, .v3_1_1), version: .v3_1_1)  // reserved bit
        expectCodecError(.malformedPacket, subscribe(0x03, .v3_1_1), version: .v3_1_1)  // QoS 3
        expectCodecError(.malformedPacket, subscribe(0x40, .v5))  // reserved bit 6
        expectCodecError(.malformedPacket, subscribe(0x80, .v5))  // reserved bit 7
        expectCodecError(.protocolError, subscribe(0x30, .v5))  // retain handling 3
        expectCodecError(.protocolError, subscribe(0x03, .v5))  // QoS 3
        expectCodecError(.malformedPacket, packet(0x82, [0x00, 0x01, 0x00] + str("f")))  // options missing
    }

    @Test func noLocalOnSharedSubscription() {
        expectCodecError(.protocolError, packet(0x82, [0x00, 0x01, 0x00] + str("$share/g/f") + [0x04]))
    }

    /// Filter validity is the broker's to judge: SUBACK answers per filter.
    @Test func invalidFiltersAreDecoded() throws {
        let decoded = try decodeOne(packet(0x82, [0x00, 0x01, 0x00] + str("a/#/b") + [0x01] + str("") + [0x00]), role: .server)
        guard case .subscribe(let subscribe) = decoded else {
            Issue.record("not SUBSCRIBE")
            return
        }
        #expect(subscribe.subscriptions.map(\.topicFilter) == ["a/#/b", ""])
    }

    @Test func filterWithInvalidUTF8() {
        expectCodecError(.malformedPacket, packet(0x82, [0x00, 0x01, 0x00] + raw([0xED, 0xA0, 0x80]) + [0x00]))
        expectCodecError(.malformedPacket, packet(0xA2, [0x00, 0x01] + raw([0x61, 0x00])), version: .v3_1_1)
    }

    @Test func subackInvalidReturnCodeIn311() {
        expectCodecError(.malformedPacket, [0x90, 0x03, 0x00, 0x01, 0x03], version: .v3_1_1)
    }

    @Test func subackWithoutReasonCodes() {
        expectCodecError(.protocolError, [0x90, 0x03, 0x00, 0x01, 0x00])
        expectCodecError(.protocolError, [0xB0, 0x03, 0x00, 0x01, 0x00])
    }
}
