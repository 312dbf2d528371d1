import NIOCore

// PUBLISH (section 3.3): the hot path. Decoding allocates at most the topic String (none for
// topics of 15 bytes or fewer) and slices the payload; encoding sizes the packet first and
// writes it in one pass.

extension MQTTPublish {
    private enum Flag {
        static let retain: UInt8 = 0x01
        static let qosShift: UInt8 = 1
        static let dup: UInt8 = 0x08
    }

    /// Checks the fixed-header flags: QoS 3, and DUP with QoS 0, are malformed.
    static func validate(flags: UInt8) throws(MQTTCodecError) {
        let qosBits = (flags >> Flag.qosShift) & 0x03
        guard qosBits != 3 else { throw .malformed("PUBLISH QoS 3") }
        guard !(qosBits == 0 && flags & Flag.dup != 0) else { throw .malformed("PUBLISH DUP set with QoS 0") }
    }

    /// Reads the body; `flags` passed ``validate(flags:)``.
    static func read(
        version: MQTTProtocolVersion,
        role: MQTTPacketParser.Role,
        flags: UInt8,
        from body: inout ByteBuffer
    ) throws(MQTTCodecError) -> MQTTPublish {
        let qos = MQTTQoS(rawValue: (flags >> Flag.qosShift) & 0x03) ?? .atMostOnce
        let topic = try body.readMQTTString("topic name")
        func isWildcard(_ byte: UInt8) -> Bool { byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") }
        // Over the contiguous bytes: an order of magnitude cheaper than iterating the UTF8View (callgrind).
        let hasWildcard = topic.utf8.withContiguousStorageIfAvailable { $0.contains(where: isWildcard) }
            ?? topic.utf8.contains(where: isWildcard)
        if hasWildcard {
            throw MQTTCodecError(.topicNameInvalid, "wildcard in PUBLISH topic name")
        }
        let packetIdentifier = qos == .atMostOnce ? nil : try body.readMQTTPacketIdentifier()
        var properties = MQTTProperties()
        if version.isV5 {
            properties = try MQTTProperties.read(from: &body, context: .publish)
            if topic.isEmpty && properties.topicAlias == nil {
                throw .protocolError("empty topic name without topic alias")
            }
            if role == .server && properties.list.contains(where: { $0.identifier == .subscriptionIdentifier }) {
                throw .protocolError("subscription identifier in PUBLISH from a client")
            }
        } else if topic.isEmpty {
            throw MQTTCodecError(.topicNameInvalid, "empty topic name")
        }
        let payload = body.readSlice(length: body.readableBytes)!
        return MQTTPublish(
            topic: topic, payload: payload, qos: qos, retain: flags & Flag.retain != 0, dup: flags & Flag.dup != 0,
            packetIdentifier: packetIdentifier, properties: properties
        )
    }

    private var fixedHeaderFlags: UInt8 {
        var flags = qos.rawValue << Flag.qosShift
        if retain { flags |= Flag.retain }
        if dup { flags |= Flag.dup }
        return flags
    }

    @inline(__always)
    private func remainingLength(version: MQTTProtocolVersion, propertiesSize: Int) -> Int {
        var length = mqttStringSize(topic) + payload.readableBytes
        if qos != .atMostOnce { length += 2 }
        if version.isV5 { length += MQTTVariableByteInteger.size(of: propertiesSize) + propertiesSize }
        return length
    }

    /// The bytes ``write(version:to:)`` appends, fixed header included.
    public func encodedSize(version: MQTTProtocolVersion) -> Int {
        let propertiesSize = version.isV5 ? properties.contentSize : 0
        let length = remainingLength(version: version, propertiesSize: propertiesSize)
        return 1 + MQTTVariableByteInteger.size(of: length) + length
    }

    /// Appends the encoded PUBLISH to `buffer` (the hot path: no intermediate ``MQTTPacket``).
    ///
    /// A QoS 1 or 2 message without a packet identifier is a programmer error.
    public func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        let propertiesSize = version.isV5 && !properties.isEmpty ? properties.contentSize : 0
        let length = remainingLength(version: version, propertiesSize: propertiesSize)
        buffer.reserveCapacity(minimumWritableBytes: 1 + MQTTVariableByteInteger.size(of: length) + length)
        buffer.writeMQTTFixedHeader(.publish, flags: fixedHeaderFlags, remainingLength: length)
        buffer.writeMQTTString(topic)
        if qos != .atMostOnce {
            guard let packetIdentifier else { preconditionFailure("QoS \(qos.rawValue) PUBLISH without packet identifier") }
            buffer.writeInteger(packetIdentifier)
        }
        if version.isV5 { properties.write(contentSize: propertiesSize, to: &buffer) }
        buffer.writeImmutableBuffer(payload)
    }
}
