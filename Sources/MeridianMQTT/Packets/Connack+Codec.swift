import NIOCore

// CONNACK (section 3.2).

extension MQTTConnack {
    static func read(version: MQTTProtocolVersion, from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTConnack {
        if !version.isV5 && body.readableBytes != 2 { throw .malformed("CONNACK remaining length is not 2") }
        let flags = try body.readMQTTByte("connect acknowledge flags")
        guard flags & 0xFE == 0 else { throw .malformed("CONNACK reserved flags set") }
        let reasonCode = MQTTReasonCode(try body.readMQTTByte("reason code"))
        let properties = version.isV5 ? try MQTTProperties.read(from: &body, context: .connack) : MQTTProperties()
        guard body.readableBytes == 0 else { throw .malformed("trailing bytes after CONNACK") }
        return MQTTConnack(sessionPresent: flags & 0x01 != 0, reasonCode: reasonCode, properties: properties)
    }

    func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        let propertiesSize = version.isV5 ? properties.contentSize : 0
        var length = 2
        if version.isV5 { length += MQTTVariableByteInteger.size(of: propertiesSize) + propertiesSize }
        buffer.writeMQTTFixedHeader(.connack, remainingLength: length)
        buffer.writeInteger(UInt8(sessionPresent ? 1 : 0))
        buffer.writeInteger(reasonCode.rawValue)
        if version.isV5 { properties.write(contentSize: propertiesSize, to: &buffer) }
    }
}
