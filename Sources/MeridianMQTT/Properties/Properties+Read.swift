import NIOCore

extension MQTTProperties {
    /// Reads a property length and the properties it covers (section 2.2.2), checking each
    /// property against `context`:
    /// - an unknown identifier, a truncated value or a length past the packet: malformed;
    /// - a property not allowed in `context`, a second copy of a non-repeatable property, or a
    ///   value out of range: protocol error;
    /// - Topic Alias 0: topic alias invalid.
    static func read(
        from buffer: inout ByteBuffer,
        context: MQTTPropertyContext
    ) throws(MQTTCodecError) -> MQTTProperties {
        let length = try buffer.readMQTTVariableByteInteger("property length")
        if length == 0 { return MQTTProperties() }
        guard var slice = buffer.readSlice(length: length) else {
            throw .malformed("property length exceeds the packet")
        }
        var list: [MQTTProperty] = []
        var seen: UInt64 = 0
        while slice.readableBytes > 0 {
            let rawIdentifier = try slice.readMQTTByte("property identifier")
            guard let identifier = MQTTPropertyIdentifier(rawValue: rawIdentifier) else {
                throw .malformed("unknown property identifier 0x\(String(rawIdentifier, radix: 16))")
            }
            guard identifier.isAllowed(in: context) else {
                throw .protocolError("property \(identifier) is not allowed in \(context)")
            }
            let bit: UInt64 = 1 << identifier.rawValue
            let repeatable = identifier.mayRepeat && !(identifier == .subscriptionIdentifier && context == .subscribe)
            if seen & bit != 0 && !repeatable {
                throw .protocolError("property \(identifier) appears more than once")
            }
            seen |= bit
            list.append(try MQTTProperty.readValue(of: identifier, from: &slice))
        }
        return MQTTProperties(list)
    }
}

extension MQTTProperty {
    static func readValue(
        of identifier: MQTTPropertyIdentifier,
        from buffer: inout ByteBuffer
    ) throws(MQTTCodecError) -> MQTTProperty {
        switch identifier {
        case .payloadFormatIndicator: return .payloadFormatIndicator(try buffer.readMQTTFlagByte(identifier))
        case .messageExpiryInterval: return .messageExpiryInterval(try buffer.readMQTTUInt32("message expiry interval"))
        case .contentType: return .contentType(try buffer.readMQTTString("content type"))
        case .responseTopic: return .responseTopic(try buffer.readMQTTString("response topic"))
        case .correlationData: return .correlationData(try buffer.readMQTTBinary("correlation data"))
        case .subscriptionIdentifier:
            let value = try buffer.readMQTTVariableByteInteger("subscription identifier")
            guard value != 0 else { throw .protocolError("subscription identifier 0") }
            return .subscriptionIdentifier(UInt32(value))
        case .sessionExpiryInterval: return .sessionExpiryInterval(try buffer.readMQTTUInt32("session expiry interval"))
        case .assignedClientIdentifier:
            return .assignedClientIdentifier(try buffer.readMQTTString("assigned client identifier"))
        case .serverKeepAlive: return .serverKeepAlive(try buffer.readMQTTUInt16("server keep alive"))
        case .authenticationMethod: return .authenticationMethod(try buffer.readMQTTString("authentication method"))
        case .authenticationData: return .authenticationData(try buffer.readMQTTBinary("authentication data"))
        case .requestProblemInformation: return .requestProblemInformation(try buffer.readMQTTFlagByte(identifier))
        case .willDelayInterval: return .willDelayInterval(try buffer.readMQTTUInt32("will delay interval"))
        case .requestResponseInformation: return .requestResponseInformation(try buffer.readMQTTFlagByte(identifier))
        case .responseInformation: return .responseInformation(try buffer.readMQTTString("response information"))
        case .serverReference: return .serverReference(try buffer.readMQTTString("server reference"))
        case .reasonString: return .reasonString(try buffer.readMQTTString("reason string"))
        case .receiveMaximum:
            let value = try buffer.readMQTTUInt16("receive maximum")
            guard value != 0 else { throw .protocolError("receive maximum 0") }
            return .receiveMaximum(value)
        case .topicAliasMaximum: return .topicAliasMaximum(try buffer.readMQTTUInt16("topic alias maximum"))
        case .topicAlias:
            let value = try buffer.readMQTTUInt16("topic alias")
            guard value != 0 else { throw MQTTCodecError(.topicAliasInvalid, "topic alias 0") }
            return .topicAlias(value)
        case .maximumQoS: return .maximumQoS(try buffer.readMQTTFlagByte(identifier))
        case .retainAvailable: return .retainAvailable(try buffer.readMQTTFlagByte(identifier))
        case .userProperty:
            let key = try buffer.readMQTTString("user property name")
            return .userProperty(key, try buffer.readMQTTString("user property value"))
        case .maximumPacketSize:
            let value = try buffer.readMQTTUInt32("maximum packet size")
            guard value != 0 else { throw .protocolError("maximum packet size 0") }
            return .maximumPacketSize(value)
        case .wildcardSubscriptionAvailable: return .wildcardSubscriptionAvailable(try buffer.readMQTTFlagByte(identifier))
        case .subscriptionIdentifierAvailable:
            return .subscriptionIdentifierAvailable(try buffer.readMQTTFlagByte(identifier))
        case .sharedSubscriptionAvailable: return .sharedSubscriptionAvailable(try buffer.readMQTTFlagByte(identifier))
        }
    }
}

extension ByteBuffer {
    /// A byte property whose only values are 0 and 1; anything else is a protocol error.
    fileprivate mutating func readMQTTFlagByte(_ identifier: MQTTPropertyIdentifier) throws(MQTTCodecError) -> UInt8 {
        let value = try self.readMQTTByte("byte property")
        guard value <= 1 else { throw .protocolError("property \(identifier) has value \(value), not 0 or 1") }
        return value
    }
}

extension MQTTPropertyContext {
    fileprivate var bit: UInt16 {
        switch self {
        case .connect: return 1 << 0
        case .connack: return 1 << 1
        case .publish: return 1 << 2
        case .will: return 1 << 3
        case .puback: return 1 << 4
        case .pubrec: return 1 << 5
        case .pubrel: return 1 << 6
        case .pubcomp: return 1 << 7
        case .subscribe: return 1 << 8
        case .suback: return 1 << 9
        case .unsubscribe: return 1 << 10
        case .unsuback: return 1 << 11
        case .disconnect: return 1 << 12
        case .auth: return 1 << 13
        }
    }
}

extension MQTTPropertyIdentifier {
    /// ``allowedContexts`` as bit masks indexed by identifier, built once, so that checking a
    /// property on the decode path does not build a `Set`.
    private static let allowedContextMasks: [UInt16] = {
        var masks = [UInt16](repeating: 0, count: 64)
        for identifier in MQTTPropertyIdentifier.allCases {
            masks[Int(identifier.rawValue)] = identifier.allowedContexts.reduce(0) { $0 | $1.bit }
        }
        return masks
    }()

    @inline(__always)
    fileprivate func isAllowed(in context: MQTTPropertyContext) -> Bool {
        Self.allowedContextMasks[Int(rawValue)] & context.bit != 0
    }
}
