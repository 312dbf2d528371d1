import NIOCore

/// The one framing of every socket reader (client connections, both ends of a bridge): bytes as
/// they arrive in, whole packets out, with the bytes of a packet split across reads kept until
/// the rest arrives. A thin owner of an ``MQTTPacketParser`` and its leftover bytes.
public struct MQTTPacketReader: Sendable {
    public var parser: MQTTPacketParser
    /// Bytes read and not yet parsed; nil when none are left (no buffer kept for idle connections).
    private var pending: ByteBuffer?

    public init(parser: MQTTPacketParser) { self.parser = parser }

    /// Takes in the bytes of one read.
    public mutating func append(_ bytes: ByteBuffer) {
        if pending == nil {
            pending = bytes
        } else {
            var bytes = bytes
            pending!.writeBuffer(&bytes)
        }
    }

    /// The next whole packet, or nil until more bytes arrive. Throws ``MQTTCodecError`` on a
    /// violation, after which the connection must be closed.
    public mutating func next() throws -> MQTTPacket? {
        guard pending != nil else { return nil }
        guard let packet = try parser.next(from: &pending!) else {
            compact()
            return nil
        }
        if pending!.readableBytes == 0 { pending = nil }
        return packet
    }

    /// Whether bytes wait to be parsed (after a pause, such as a CONNECT waiting for admission).
    public var hasPendingBytes: Bool { (pending?.readableBytes ?? 0) > 0 }

    /// Drops the bytes already parsed, so a slow packet does not pin every earlier read's buffer.
    private mutating func compact() {
        if pending!.readableBytes == 0 {
            pending = nil
        } else if pending!.readerIndex > 0 {
            pending!.discardReadBytes()
        }
    }
}
