import NIOCore

// CONNECT (section 3.1). Its own protocol level decides how the rest is read and written.

extension MQTTConnect {
    private enum Flag {
        static let reserved: UInt8 = 0x01
        static let cleanStart: UInt8 = 0x02
        static let will: UInt8 = 0x04
        static let willQoSShift: UInt8 = 3
        static let willRetain: UInt8 = 0x20
        static let password: UInt8 = 0x40
        static let username: UInt8 = 0x80
    }

    /// Reads the protocol name and level: "MQTT" 4 or 5, "MQIsdp" 3; a 3.1/3.1.1 level with the
    /// high bit set (0x83, 0x84) is Mosquitto's `try_private` bridge marker.
    static func readProtocolVersion(from body: inout ByteBuffer) throws(MQTTCodecError) -> (MQTTProtocolVersion, isBridge: Bool) {
        let name = try body.readMQTTString("protocol name")
        let rawLevel = try body.readMQTTByte("protocol level")
        let isBridge = rawLevel & 0x80 != 0 && rawLevel != 0x85
        let level = isBridge ? rawLevel & 0x7F : rawLevel
        switch name {
        case "MQTT":
            if level == 4 { return (.v3_1_1, isBridge) }
            if level == 5 && !isBridge { return (.v5, false) }
        case "MQIsdp":
            if level == 3 { return (.v3_1, isBridge) }
        default:
            throw .protocolError("unknown protocol name")
        }
        throw MQTTCodecError(.unsupportedProtocolVersion, "protocol \(name) level \(level)")
    }

    /// Reads the rest of CONNECT after the protocol name and level.
    static func read(version: MQTTProtocolVersion, from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTConnect {
        let flags = try body.readMQTTByte("connect flags")
        guard flags & Flag.reserved == 0 else { throw .malformed("connect flags reserved bit set") }
        let hasWill = flags & Flag.will != 0
        let willQoSBits = (flags >> Flag.willQoSShift) & 0x03
        let willRetain = flags & Flag.willRetain != 0
        guard let willQoS = MQTTQoS(rawValue: willQoSBits) else { throw .malformed("will QoS 3") }
        if !hasWill && (willQoSBits != 0 || willRetain) {
            throw .malformed("will QoS or will retain set without will flag")
        }
        let hasUsername = flags & Flag.username != 0
        let hasPassword = flags & Flag.password != 0
        if !version.isV5 && hasPassword && !hasUsername {
            throw .malformed("password flag without username flag")
        }
        let keepAlive = try body.readMQTTUInt16("keep alive")
        let properties = version.isV5 ? try MQTTProperties.read(from: &body, context: .connect) : MQTTProperties()

        let clientIdentifier = try body.readMQTTString("client identifier")
        var will: MQTTWill?
        if hasWill {
            let willProperties = version.isV5 ? try MQTTProperties.read(from: &body, context: .will) : MQTTProperties()
            let topic = try body.readMQTTString("will topic")
            guard MQTTTopic.isValidName(topic) else { throw MQTTCodecError(.topicNameInvalid, "invalid will topic") }
            let payload = try body.readMQTTBinary("will payload")
            will = MQTTWill(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        let username = hasUsername ? try body.readMQTTString("user name") : nil
        let password = hasPassword ? try body.readMQTTBinary("password") : nil
        guard body.readableBytes == 0 else { throw .malformed("trailing bytes after CONNECT payload") }
        return MQTTConnect(
            protocolVersion: version, cleanStart: flags & Flag.cleanStart != 0, keepAlive: keepAlive,
            clientIdentifier: clientIdentifier, properties: properties, will: will, username: username,
            password: password
        )
    }

    private var protocolName: String { protocolVersion == .v3_1 ? "MQIsdp" : "MQTT" }

    private var flags: UInt8 {
        var flags: UInt8 = cleanStart ? Flag.cleanStart : 0
        if let will {
            flags |= Flag.will | will.qos.rawValue << Flag.willQoSShift
            if will.retain { flags |= Flag.willRetain }
        }
        if username != nil { flags |= Flag.username }
        if password != nil { flags |= Flag.password }
        return flags
    }

    /// Writes CONNECT for `self.protocolVersion`.
    func write(to buffer: inout ByteBuffer) {
        let isV5 = protocolVersion.isV5
        let propertiesSize = isV5 ? properties.contentSize : 0
        let willPropertiesSize = isV5 ? (will?.properties.contentSize ?? 0) : 0
        var length = mqttStringSize(protocolName) + 1 + 1 + 2 + mqttStringSize(clientIdentifier)
        if isV5 { length += MQTTVariableByteInteger.size(of: propertiesSize) + propertiesSize }
        if let will {
            length += mqttStringSize(will.topic) + 2 + will.payload.readableBytes
            if isV5 { length += MQTTVariableByteInteger.size(of: willPropertiesSize) + willPropertiesSize }
        }
        if let username { length += mqttStringSize(username) }
        if let password { length += 2 + password.readableBytes }

        buffer.writeMQTTFixedHeader(.connect, remainingLength: length)
        buffer.writeMQTTString(protocolName)
        let bridgeBit: UInt8 = isBridge && !protocolVersion.isV5 ? 0x80 : 0
        buffer.writeInteger(protocolVersion.rawValue | bridgeBit)
        buffer.writeInteger(flags)
        buffer.writeInteger(keepAlive)
        if isV5 { properties.write(contentSize: propertiesSize, to: &buffer) }
        buffer.writeMQTTString(clientIdentifier)
        if let will {
            if isV5 { will.properties.write(contentSize: willPropertiesSize, to: &buffer) }
            buffer.writeMQTTString(will.topic)
            buffer.writeMQTTBinary(will.payload)
        }
        if let username { buffer.writeMQTTString(username) }
        if let password { buffer.writeMQTTBinary(password) }
    }
}
