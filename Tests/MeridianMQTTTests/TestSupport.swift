import MeridianMQTT
import NIOCore
import Testing

extension ByteBuffer {
    init(bytes: [UInt8]) {
        self = ByteBufferAllocator().buffer(capacity: bytes.count)
        self.writeBytes(bytes)
    }
}

func encode(_ packet: MQTTPacket, version: MQTTProtocolVersion) -> ByteBuffer {
    var buffer = ByteBuffer()
    packet.write(version: version, to: &buffer)
    return buffer
}

func encodedBytes(_ packet: MQTTPacket, version: MQTTProtocolVersion) -> [UInt8] {
    Array(encode(packet, version: version).readableBytesView)
}

/// The role that receives `packet` in normal operation.
func receivingRole(of packet: MQTTPacket) -> MQTTPacketParser.Role {
    switch packet {
    case .connect, .subscribe, .unsubscribe, .pingreq: return .server
    case .publish(let publish) where publish.properties.subscriptionIdentifiers.isEmpty: return .server
    case .puback, .pubrec, .pubrel, .pubcomp, .disconnect, .auth: return .server
    default: return .client
    }
}

/// A parser that is ready to decode `packet`: a server learns the version from CONNECT.
func parser(for packet: MQTTPacket, version: MQTTProtocolVersion, role: MQTTPacketParser.Role) -> MQTTPacketParser {
    if case .connect = packet, role == .server { return MQTTPacketParser(role: .server) }
    return MQTTPacketParser(role: role, protocolVersion: version)
}

/// Encodes `packet`, decodes it back and checks that every byte was consumed.
func roundTrip(
    _ packet: MQTTPacket,
    version: MQTTProtocolVersion,
    role: MQTTPacketParser.Role? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> MQTTPacket? {
    var buffer = encode(packet, version: version)
    if case .publish(let publish) = packet {
        #expect(publish.encodedSize(version: version) == buffer.readableBytes, sourceLocation: sourceLocation)
    }
    var parser = parser(for: packet, version: version, role: role ?? receivingRole(of: packet))
    let decoded = try parser.next(from: &buffer)
    #expect(buffer.readableBytes == 0, "bytes left after decoding", sourceLocation: sourceLocation)
    return decoded
}

/// Decodes `bytes` and expects the parser to throw `code`.
func expectCodecError(
    _ code: MQTTCodecError.Code,
    _ bytes: [UInt8],
    role: MQTTPacketParser.Role = .client,
    version: MQTTProtocolVersion? = .v5,
    maximumPacketSize: Int = MQTTPacketParser.absoluteMaximumPacketSize,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var parser = MQTTPacketParser(role: role, protocolVersion: version, maximumPacketSize: maximumPacketSize)
    var buffer = ByteBuffer(bytes: bytes)
    do {
        let packet = try parser.next(from: &buffer)
        Issue.record("expected \(code), decoded \(String(describing: packet))", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    }
}

/// Decodes `bytes` and expects one packet that uses every byte.
func decodeOne(
    _ bytes: [UInt8],
    role: MQTTPacketParser.Role = .client,
    version: MQTTProtocolVersion? = .v5,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> MQTTPacket? {
    var parser = MQTTPacketParser(role: role, protocolVersion: version)
    var buffer = ByteBuffer(bytes: bytes)
    let packet = try parser.next(from: &buffer)
    #expect(buffer.readableBytes == 0, sourceLocation: sourceLocation)
    return packet
}

/// Prefixes `body` with a fixed header (one-byte remaining length).
func packet(_ typeAndFlags: UInt8, _ body: [UInt8]) -> [UInt8] {
    precondition(body.count < 128)
    return [typeAndFlags, UInt8(body.count)] + body
}

/// A two-byte-length-prefixed string field.
func str(_ s: String) -> [UInt8] {
    let utf8 = Array(s.utf8)
    return [UInt8(utf8.count >> 8), UInt8(utf8.count & 0xFF)] + utf8
}

/// A two-byte-length-prefixed raw byte field.
func raw(_ bytes: [UInt8]) -> [UInt8] {
    [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
}
