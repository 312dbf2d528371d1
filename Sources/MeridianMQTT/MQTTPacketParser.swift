import NIOCore

/// Pure, incremental MQTT packet parser: bytes in, ``MQTTPacket`` values out.
///
/// "Need more bytes" returns nil and leaves the reader index where it was; a violation of the
/// specification throws ``MQTTCodecError``.
public struct MQTTPacketParser: Sendable {
    public enum Role: Sendable {
        /// Parses what clients send; learns the protocol version from CONNECT.
        case server
        /// Parses what servers send; the version is set by the owner.
        case client
    }

    public var role: Role
    /// The connection's protocol version: set by the first CONNECT for a server, by the owner for a client.
    public var protocolVersion: MQTTProtocolVersion?
    /// Packets whose total size (fixed header included) exceeds this are rejected before the body is read.
    public var maximumPacketSize: Int

    /// The largest packet MQTT can express: 1 + 4 + 268,435,455.
    public static let absoluteMaximumPacketSize = 268_435_460

    public init(role: Role, protocolVersion: MQTTProtocolVersion? = nil, maximumPacketSize: Int = absoluteMaximumPacketSize) {
        self.role = role
        self.protocolVersion = protocolVersion
        self.maximumPacketSize = maximumPacketSize
    }

    /// Decodes the next whole packet from `buffer`, or returns nil if it does not hold one yet.
    public mutating func next(from buffer: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket? {
        fatalError("unimplemented")
    }
}
