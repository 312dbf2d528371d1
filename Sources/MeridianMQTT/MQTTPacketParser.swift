import NIOCore

/// Pure, incremental MQTT packet parser: bytes in, ``MQTTPacket`` values out.
///
/// "Need more bytes" returns nil and leaves the reader index where it was; a violation of the
/// specification throws ``MQTTCodecError``. After a throw the connection must be closed: the
/// reader index and the parser state are unspecified.
///
/// Checks made from the fixed header alone, before waiting for the body: the packet type,
/// the remaining length (at most four bytes), ``maximumPacketSize``, the reserved flag bits,
/// that a server's first packet is CONNECT, and that AUTH is only sent in MQTT 5.
///
/// Every packet type is decoded in both roles; rejecting packets that travel the wrong way
/// (a CONNACK sent to a server, say) is left to the session state machine.
///
/// Error codes thrown (``MQTTCodecError/Code``):
/// - `.malformedPacket`: bytes that cannot be read: remaining length over four bytes,
///   reserved flag bits, PUBLISH QoS 3 or DUP with QoS 0, truncated or trailing fields,
///   invalid UTF-8 or U+0000 in any string, unknown property identifier, CONNECT reserved
///   bit / will QoS 3 / will QoS or retain without will / 3.1.1 password without user name,
///   reserved subscription option bits, AUTH before 5.0, packet type 0, 3.1.1 SUBACK return
///   code other than 0, 1, 2, 0x80.
/// - `.protocolError`: first packet of a server connection not CONNECT, unknown protocol
///   name, packet identifier 0, property not allowed in the packet or repeated, property
///   value out of range, SUBSCRIBE/UNSUBSCRIBE without filters, SUBACK/UNSUBACK without
///   reason codes, 5.0 subscription QoS 3 or Retain Handling 3, No Local on a shared
///   subscription, 5.0 empty topic without Topic Alias, Subscription Identifier in a PUBLISH
///   received by a server.
/// - `.packetTooLarge`: total size over ``maximumPacketSize`` (from the fixed header alone).
/// - `.unsupportedProtocolVersion`: CONNECT with a protocol level other than 3 (MQIsdp),
///   4 or 5 (MQTT); ``protocolVersion`` stays nil so the broker answers in 3.1.1 form.
/// - `.topicNameInvalid`: `+` or `#` in a PUBLISH or will topic, empty 3.1.1 topic.
/// - `.topicAliasInvalid`: Topic Alias 0. The alias maximum is the broker's to check.
///
/// Left to the broker: topic filter validity (answered per filter in SUBACK), client
/// identifier rules, Topic Alias range, reason code meaning, Authentication Method rules.
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
        let start = buffer.readerIndex
        guard let typeAndFlags = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        guard let type = MQTTPacketType(rawValue: typeAndFlags >> 4) else {
            throw .malformed("reserved packet type 0")
        }
        let flags = typeAndFlags & 0x0F
        let remainingLength: Int
        let lengthSize: Int
        switch MQTTVariableByteInteger.peek(buffer, at: start + 1) {
        case .needMoreBytes:
            return nil
        case .malformed:
            throw MQTTCodecError(.malformedPacket, "remaining length longer than 4 bytes", packetType: type)
        case .value(let value, let byteCount):
            remainingLength = value
            lengthSize = byteCount
        }
        let totalSize = 1 + lengthSize + remainingLength
        guard totalSize <= maximumPacketSize else {
            throw MQTTCodecError(
                .packetTooLarge, "packet of \(totalSize) bytes exceeds the maximum of \(maximumPacketSize)",
                packetType: type
            )
        }
        let version: MQTTProtocolVersion?
        do {
            version = try checkHeader(type: type, flags: flags)
        } catch {
            throw error.with(packetType: type)
        }
        guard buffer.readableBytes >= totalSize else { return nil }

        buffer.moveReaderIndex(forwardBy: 1 + lengthSize)
        var body = buffer.readSlice(length: remainingLength)!
        do {
            if let version {
                return try Self.decodeBody(type: type, flags: flags, version: version, role: role, from: &body)
            }
            return try decodeConnect(from: &body)
        } catch {
            throw error.with(packetType: type)
        }
    }

    /// Checks what the fixed header alone tells; returns the version to decode the body with,
    /// or nil when the body is CONNECT, whose own protocol level decides.
    private func checkHeader(type: MQTTPacketType, flags: UInt8) throws(MQTTCodecError) -> MQTTProtocolVersion? {
        switch type {
        case .publish:
            try MQTTPublish.validate(flags: flags)
        case .pubrel, .subscribe, .unsubscribe:
            guard flags == 0b0010 else { throw .malformed("reserved fixed header flags must be 0010") }
        default:
            guard flags == 0 else { throw .malformed("reserved fixed header flags must be 0000") }
        }
        if type == .connect { return nil }
        guard let protocolVersion else {
            switch role {
            case .server: throw .protocolError("first packet is not CONNECT")
            case .client: throw .protocolError("protocol version not set")
            }
        }
        if type == .auth && !protocolVersion.isV5 { throw .malformed("AUTH before MQTT 5") }
        return protocolVersion
    }

    private mutating func decodeConnect(from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket {
        let (version, isBridge) = try MQTTConnect.readProtocolVersion(from: &body)
        var connect = try MQTTConnect.read(version: version, from: &body)
        connect.isBridge = isBridge
        if role == .server && protocolVersion == nil { protocolVersion = version }
        return .connect(connect)
    }

    private static func decodeBody(
        type: MQTTPacketType,
        flags: UInt8,
        version: MQTTProtocolVersion,
        role: Role,
        from body: inout ByteBuffer
    ) throws(MQTTCodecError) -> MQTTPacket {
        switch type {
        case .publish:
            return .publish(try MQTTPublish.read(version: version, role: role, flags: flags, from: &body))
        case .puback: return .puback(try MQTTAck.read(version: version, context: .puback, from: &body))
        case .pubrec: return .pubrec(try MQTTAck.read(version: version, context: .pubrec, from: &body))
        case .pubrel: return .pubrel(try MQTTAck.read(version: version, context: .pubrel, from: &body))
        case .pubcomp: return .pubcomp(try MQTTAck.read(version: version, context: .pubcomp, from: &body))
        case .connect:
            preconditionFailure("CONNECT is decoded by decodeConnect")
        case .connack: return .connack(try MQTTConnack.read(version: version, from: &body))
        case .subscribe: return .subscribe(try MQTTSubscribe.read(version: version, from: &body))
        case .suback: return .suback(try MQTTSuback.read(version: version, from: &body))
        case .unsubscribe: return .unsubscribe(try MQTTUnsubscribe.read(version: version, from: &body))
        case .unsuback: return .unsuback(try MQTTUnsuback.read(version: version, from: &body))
        case .pingreq, .pingresp:
            guard body.readableBytes == 0 else { throw .malformed("remaining length is not 0") }
            return type == .pingreq ? .pingreq : .pingresp
        case .disconnect: return .disconnect(try MQTTDisconnect.read(version: version, from: &body))
        case .auth: return .auth(try MQTTAuth.read(from: &body))
        }
    }
}

extension MQTTCodecError {
    fileprivate func with(packetType type: MQTTPacketType) -> MQTTCodecError {
        var error = self
        error.packetType = type
        return error
    }
}
