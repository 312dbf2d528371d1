import NIOCore

// PUBACK, PUBREC, PUBREL, PUBCOMP (sections 3.4–3.7). In MQTT 5 the reason code and the
// properties may be left out: remaining length 2 means Success without properties, 3 means
// a reason code without properties.

extension MQTTAck {
    static func read(
        version: MQTTProtocolVersion,
        context: MQTTPropertyContext,
        from body: inout ByteBuffer
    ) throws(MQTTCodecError) -> MQTTAck {
        if !version.isV5 && body.readableBytes != 2 { throw .malformed("remaining length is not 2") }
        let packetIdentifier = try body.readMQTTPacketIdentifier()
        var ack = MQTTAck(packetIdentifier: packetIdentifier)
        guard version.isV5, body.readableBytes > 0 else { return ack }
        ack.reasonCode = MQTTReasonCode(try body.readMQTTByte("reason code"))
        if body.readableBytes > 0 {
            ack.properties = try MQTTProperties.read(from: &body, context: context)
            guard body.readableBytes == 0 else { throw .malformed("trailing bytes after properties") }
        }
        return ack
    }

    func write(_ type: MQTTPacketType, version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        let flags: UInt8 = type == .pubrel ? 0b0010 : 0
        guard version.isV5, reasonCode != .success || !properties.isEmpty else {
            buffer.writeMQTTFixedHeader(type, flags: flags, remainingLength: 2)
            buffer.writeInteger(packetIdentifier)
            return
        }
        let propertiesSize = properties.contentSize
        let length = properties.isEmpty ? 3 : 3 + MQTTVariableByteInteger.size(of: propertiesSize) + propertiesSize
        buffer.writeMQTTFixedHeader(type, flags: flags, remainingLength: length)
        buffer.writeInteger(packetIdentifier)
        buffer.writeInteger(reasonCode.rawValue)
        if !properties.isEmpty { properties.write(contentSize: propertiesSize, to: &buffer) }
    }
}
