import MeridianMQTT
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

/// `MQTTPacketDecoder` is a `NIOSingleStepByteToMessageDecoder`, hence a `ByteToMessageDecoder`:
/// the verifier drip-feeds byte by byte, sends all at once and one message per buffer.
@Suite struct DecoderVerifierTests {
    static func pairs(_ packets: [MQTTPacket], version: MQTTProtocolVersion) -> [(ByteBuffer, [MQTTPacket])] {
        packets.map { (encode($0, version: version), [$0]) }
    }

    @Test func clientRoleMQTT5() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: Self.pairs(SamplePackets.v5, version: .v5)) {
            MQTTPacketDecoder(parser: MQTTPacketParser(role: .client, protocolVersion: .v5))
        }
    }

    @Test func clientRoleMQTT311() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: Self.pairs(SamplePackets.v3_1_1, version: .v3_1_1)) {
            MQTTPacketDecoder(parser: MQTTPacketParser(role: .client, protocolVersion: .v3_1_1))
        }
    }

    /// A server learns the version from CONNECT, so the session is one input in order.
    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func serverRoleSession(version: MQTTProtocolVersion) throws {
        let all = version == .v5 ? SamplePackets.v5 : SamplePackets.v3_1_1
        let session = [all[0]] + all.filter { receivingRole(of: $0) == .server && $0.type != .connect }
        var input = ByteBuffer()
        for packet in session { packet.write(version: version, to: &input) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(input, session)]) {
            MQTTPacketDecoder(parser: MQTTPacketParser(role: .server))
        }
    }

    @Test func handlerReportsCodecErrors() throws {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(MQTTPacketDecoder(parser: MQTTPacketParser(role: .server)), maximumBufferSize: 1024)
        )
        #expect(throws: MQTTCodecError(.protocolError, "first packet is not CONNECT", packetType: .pingreq)) {
            try channel.writeInbound(ByteBuffer(bytes: [0xC0, 0x00]))
        }
        _ = try? channel.finish()
    }

    @Test func encoderWritesPackets() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(MQTTPacketEncoder(version: .v5)))
        try channel.writeOutbound(MQTTPacket.pingreq)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0xC0, 0x00]))
        _ = try channel.finish()
    }
}
