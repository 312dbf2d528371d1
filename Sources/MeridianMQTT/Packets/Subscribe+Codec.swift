import NIOCore

// SUBSCRIBE (section 3.8) and SUBACK (section 3.9).
//
// Topic filters are decoded as UTF-8 strings but not validated: the broker answers an
// invalid filter in SUBACK (0x80 in 3.1.1, 0x8F Topic Filter invalid in 5.0).

extension MQTTSubscriptionOptions {
    /// Reads the options byte. 3.1.1: bits 2–7 reserved, QoS 3 malformed. 5.0: bits 6–7
    /// reserved (malformed); QoS 3 and Retain Handling 3 are protocol errors.
    public init(byte: UInt8, version: MQTTProtocolVersion) throws(MQTTCodecError) {
        guard version.isV5 else {
            guard byte & 0xFC == 0 else { throw .malformed("subscription options reserved bits set") }
            guard let qos = MQTTQoS(rawValue: byte) else { throw .malformed("subscription QoS 3") }
            self.init(qos: qos)
            return
        }
        guard byte & 0xC0 == 0 else { throw .malformed("subscription options reserved bits set") }
        guard let qos = MQTTQoS(rawValue: byte & 0x03) else { throw .protocolError("subscription QoS 3") }
        guard let retainHandling = MQTTRetainHandling(rawValue: (byte >> 4) & 0x03) else {
            throw .protocolError("retain handling 3")
        }
        self.init(
            qos: qos, noLocal: byte & 0x04 != 0, retainAsPublished: byte & 0x08 != 0, retainHandling: retainHandling
        )
    }

    public func byte(version: MQTTProtocolVersion) -> UInt8 {
        guard version.isV5 else { return qos.rawValue }
        var byte = qos.rawValue | retainHandling.rawValue << 4
        if noLocal { byte |= 0x04 }
        if retainAsPublished { byte |= 0x08 }
        return byte
    }
}

extension MQTTSubscribe {
    static func read(version: MQTTProtocolVersion, from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTSubscribe {
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        let properties = version.isV5 ? try MQTTProperties.read(from: &body, context: .subscribe) : MQTTProperties()
        guard body.readableBytes > 0 else { throw .protocolError("SUBSCRIBE without topic filters") }
        var subscriptions: [MQTTSubscription] = []
        while body.readableBytes > 0 {
            let filter = try body.readMQTTString("topic filter")
            let options = try MQTTSubscriptionOptions(byte: try body.readMQTTByte("subscription options"), version: version)
            if options.noLocal && filter.utf8.starts(with: "$share/".utf8) {
                throw .protocolError("no local on a shared subscription")
            }
            subscriptions.append(MQTTSubscription(topicFilter: filter, options: options))
        }
        return MQTTSubscribe(packetIdentifier: packetIdentifier, subscriptions: subscriptions, properties: properties)
    }

    func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        let propertiesSize = version.isV5 ? properties.contentSize : 0
        var length = 2
        if version.isV5 { length += MQTTVariableByteInteger.size(of: propertiesSize) + propertiesSize }
        for subscription in subscriptions { length += mqttStringSize(subscription.topicFilter) + 1 }
        buffer.writeMQTTFixedHeader(.subscribe, flags: 0b0010, remainingLength: length)
        buffer.writeInteger(packetIdentifier)
        if version.isV5 { properties.write(contentSize: propertiesSize, to: &buffer) }
        for subscription in subscriptions {
            buffer.writeMQTTString(subscription.topicFilter)
            buffer.writeInteger(subscription.options.byte(version: version))
        }
    }
}

extension MQTTSuback {
    static func read(version: MQTTProtocolVersion, from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTSuback {
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        let properties = version.isV5 ? try MQTTProperties.read(from: &body, context: .suback) : MQTTProperties()
        guard body.readableBytes > 0 else { throw .protocolError("SUBACK without reason codes") }
        var reasonCodes: [MQTTReasonCode] = []
        reasonCodes.reserveCapacity(body.readableBytes)
        while let byte = body.readInteger(as: UInt8.self) {
            if !version.isV5 && byte > 2 && byte != 0x80 { throw .malformed("SUBACK return code \(byte)") }
            reasonCodes.append(MQTTReasonCode(byte))
        }
        return MQTTSuback(packetIdentifier: packetIdentifier, reasonCodes: reasonCodes, properties: properties)
    }

    /// Before 5.0 every failure code is written as 0x80, the only failure 3.1.1 knows.
    func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        let propertiesSize = version.isV5 ? properties.contentSize : 0
        var length = 2 + reasonCodes.count
        if version.isV5 { length += MQTTVariableByteInteger.size(of: propertiesSize) + propertiesSize }
        buffer.writeMQTTFixedHeader(.suback, remainingLength: length)
        buffer.writeInteger(packetIdentifier)
        if version.isV5 { properties.write(contentSize: propertiesSize, to: &buffer) }
        for code in reasonCodes {
            buffer.writeInteger(version.isV5 || !code.isFailure ? code.rawValue : MQTTReasonCode.v3SubscribeFailure.rawValue)
        }
    }
}
