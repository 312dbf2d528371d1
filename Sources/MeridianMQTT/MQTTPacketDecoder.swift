import NIOCore

/// A thin `NIOSingleStepByteToMessageDecoder` over ``MQTTPacketParser``.
public struct MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    public var parser: MQTTPacketParser

    public init(parser: MQTTPacketParser) { self.parser = parser }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        try parser.next(from: &buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        try decode(buffer: &buffer)
    }
}

/// Encodes ``MQTTPacket`` values for a connection of a known protocol version.
public struct MQTTPacketEncoder: MessageToByteEncoder {
    public typealias OutboundIn = MQTTPacket

    public var version: MQTTProtocolVersion

    public init(version: MQTTProtocolVersion) { self.version = version }

    public func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        data.write(version: version, to: &out)
    }
}
