import NIOCore

// UNSUBSCRIBE (section 3.10) and UNSUBACK (section 3.11).

extension MQTTUnsubscribe {
    static func read(version: MQTTProtocolVersion, from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTUnsubscribe {
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        let properties = version.isV5 ? try MQTTProperties.read(from: &body, context: .unsubscribe) : MQTTProperties()
        guard body.readableBytes > 0 else { throw .protocolError("UNSUBSCRIBE without topic filters") }
        var filters: [String] = []
        while body.readableBytes > 0 {
            filters.append(try body.readMQTTString("topic filter"))
        }
        return MQTTUnsubscribe(packetIdentifier: packetIdentifier, topicFilters: filters, properties: properties)
    }

    func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        let propertiesSize = version.isV5 ? properties.contentSize : 0
        var length = 2
        if version.isV5 { length += MQTTVariableByteInteger.size(of: propertiesSize) + propertiesSize }
        for filter in topicFilters { length += mqttStringSize(filter) }
        buffer.writeMQTTFixedHeader(.unsubscribe, flags: 0b0010, remainingLength: length)
        buffer.writeInteger(packetIdentifier)
        if version.isV5 { properties.write(contentSize: propertiesSize, to: &buffer) }
        for filter in topicFilters { buffer.writeMQTTString(filter) }
    }
}

extension MQTTUnsuback {
    static func read(version: MQTTProtocolVersion, from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTUnsuback {
        guard version.isV5 else {
            guard body.readableBytes == 2 else { throw .malformed("UNSUBACK remaining length is not 2") }
            return MQTTUnsuback(packetIdentifier: try body.readMQTTPacketIdentifier())
        }
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        let properties = try MQTTProperties.read(from: &body, context: .unsuback)
        guard body.readableBytes > 0 else { throw .protocolError("UNSUBACK without reason codes") }
        var reasonCodes: [MQTTReasonCode] = []
        reasonCodes.reserveCapacity(body.readableBytes)
        while let byte = body.readInteger(as: UInt8.self) { reasonCodes.append(MQTTReasonCode(byte)) }
        return MQTTUnsuback(packetIdentifier: packetIdentifier, reasonCodes: reasonCodes, properties: properties)
    }

    /// Before 5.0 the reason codes and properties are dropped.
    func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        guard version.isV5 else {
            buffer.writeMQTTFixedHeader(.unsuback, remainingLength: 2)
            buffer.writeInteger(packetIdentifier)
            return
        }
        let propertiesSize = properties.contentSize
        let length = 2 + MQTTVariableByteInteger.size(of: propertiesSize) + propertiesSize + reasonCodes.count
        buffer.writeMQTTFixedHeader(.unsuback, remainingLength: length)
        buffer.writeInteger(packetIdentifier)
        properties.write(contentSize: propertiesSize, to: &buffer)
        for code in reasonCodes { buffer.writeInteger(code.rawValue) }
    }
}
