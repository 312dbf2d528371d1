import MeridianMQTT
import NIOCore
import MeridianTestSupport
import Testing

/// Permanent cases for inputs that once broke the parser, and for the edge cases the fuzzer
/// is meant to keep covering. Each runs through the full fuzz check (every role and version,
/// chunked feeding, re-encoding) and states the outcome a client-role MQTT 5 parser reaches.
///
/// No mutant has crashed or hung the parser so far (about a million inputs over 240 s from seed
/// 12345, plus the default 10 s runs); the cases below are the boundaries the fuzzer probes.
@Suite struct FuzzRegressionTests {
    static let cases: [(name: String, bytes: [UInt8], end: ParseOutcome.End, packets: Int)] = [
        ("continuation bit on the last byte available", [0x30, 0xFF], .needMoreBytes, 0),
        ("four continuation bytes", [0x30, 0xFF, 0xFF, 0xFF, 0xFF], .error(.malformedPacket), 0),
        ("non-minimal remaining length", [0xC0, 0x80, 0x00], .needMoreBytes, 1),
        ("empty PUBLISH body", [0x30, 0x00], .error(.malformedPacket), 0),
        ("string length past the body", [0x30, 0x03, 0x00, 0x05, 0x61], .error(.malformedPacket), 0),
        ("property length of five bytes", [0x30, 0x08, 0x00, 0x01, 0x74, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], .error(.malformedPacket), 0),
        ("subscription identifier of five bytes", [0x30, 0x0A, 0x00, 0x01, 0x74, 0x06, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], .error(.malformedPacket), 0),
        ("property identifier with its high bit set", [0x30, 0x06, 0x00, 0x01, 0x74, 0x02, 0x81, 0x00], .error(.malformedPacket), 0),
        ("user property missing its value", [0x30, 0x08, 0x00, 0x01, 0x74, 0x04, 0x26, 0x00, 0x01, 0x6B], .error(.malformedPacket), 0),
        ("lone continuation byte in a topic", [0x30, 0x04, 0x00, 0x01, 0x80, 0x00], .error(.malformedPacket), 0),
        ("packet after a complete one, cut short", [0xC0, 0x00, 0xD0, 0x00, 0x30], .needMoreBytes, 2),
        ("DISCONNECT with a property length and no properties", [0xE0, 0x02, 0x8E, 0x00], .needMoreBytes, 1),
        ("AUTH with truncated properties", [0xF0, 0x03, 0x18, 0x05, 0x15], .error(.malformedPacket), 0),
        ("UNSUBACK with properties only", [0xB0, 0x03, 0x00, 0x01, 0x00], .error(.protocolError), 0),
        ("CONNACK without property length", [0x20, 0x02, 0x00, 0x00], .error(.malformedPacket), 0),
        ("CONNECT cut inside the protocol name", [0x10, 0x03, 0x00, 0x04, 0x4D], .error(.malformedPacket), 0),
        ("packet type 0 after a valid packet", [0xC0, 0x00, 0x00, 0x00], .error(.malformedPacket), 1),
    ]

    @Test(arguments: cases.indices)
    func regression(_ index: Int) {
        let testCase = Self.cases[index]
        var rng = SplitMix64(seed: UInt64(index))
        #expect(FuzzHarness.check(testCase.bytes, rng: &rng) == nil, "\(testCase.name)")
        let outcome = FuzzHarness.parse([testCase.bytes[...]], .init(role: .client, version: .v5))
        #expect(outcome.end == testCase.end, "\(testCase.name)")
        #expect(outcome.packets.count == testCase.packets, "\(testCase.name)")
    }

    /// The probe of CVE-2019-11779 (a SUBSCRIBE to 65,535 `/`): valid MQTT, so the codec decodes it
    /// whole, in every configuration that allows its size, chunked or not, and re-encodes it to
    /// the same bytes; refusing it is the broker's job (`MQTTTopic.maximumLevels`).
    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func deepSubscribeProbe(version: MQTTProtocolVersion) throws {
        let filter = String(repeating: "/", count: 65_535)
        var bytes = ByteBuffer()
        MQTTPacket.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [
            MQTTSubscription(topicFilter: filter, options: .init(qos: .atLeastOnce)),
        ])).write(version: version, to: &bytes)
        let raw = Array(bytes.readableBytesView)
        let configuration = FuzzHarness.Configuration(role: .server, version: version)
        let whole = FuzzHarness.parse([raw[...]], configuration, maximumPacketSize: 1 << 20)
        let chunks = stride(from: 0, to: raw.count, by: 4096).map { raw[$0..<min(raw.count, $0 + 4096)] }
        let chunked = FuzzHarness.parse(chunks, configuration, maximumPacketSize: 1 << 20)
        #expect(whole.end == .needMoreBytes && chunked == whole)
        guard case .subscribe(let subscribe) = whole.packets.first else { Issue.record("not decoded"); return }
        #expect(MQTTTopic.levelCount(subscribe.subscriptions[0].topicFilter) == 65_536)
        #expect(!MQTTTopic.isWithinLevelLimit(subscribe.subscriptions[0].topicFilter))
        var again = ByteBuffer()
        MQTTPacket.subscribe(subscribe).write(version: version, to: &again)
        #expect(Array(again.readableBytesView) == raw)
        // Within the fuzzer's usual 4,096-byte bound it is refused as too large, never half read.
        #expect(FuzzHarness.parse([raw[...]], configuration).end != .needMoreBytes)
    }
}
