import NIOCore

// DISCONNECT (section 3.14) and AUTH (section 3.15): in MQTT 5 remaining length 0 means
// Success / Normal disconnection, 1 a reason code without properties.

/// Reads the optional reason code and properties of an MQTT 5 DISCONNECT or AUTH.
private func readReasonAndProperties(
    context: MQTTPropertyContext,
    from body: inout ByteBuffer
) throws(MQTTCodecError) -> (MQTTReasonCode, MQTTProperties) {
    guard body.readableBytes > 0 else { return (.success, MQTTProperties()) }
    let reasonCode = MQTTReasonCode(try body.readMQTTByte("reason code"))
    guard body.readableBytes > 0 else { return (reasonCode, MQTTProperties()) }
    let properties = try MQTTProperties.read(from: &body, context: context)
    guard body.readableBytes == 0 else { throw .malformed("trailing bytes after properties") }
    return (reasonCode, properties)
}

/// Writes an MQTT 5 DISCONNECT or AUTH in its shortest form.
private func writeReasonAndProperties(
    _ type: MQTTPacketType,
    reasonCode: MQTTReasonCode,
    properties: MQTTProperties,
    to buffer: inout ByteBuffer
) {
    if properties.isEmpty {
        let isSuccess = reasonCode == .success
        buffer.writeMQTTFixedHeader(type, remainingLength: isSuccess ? 0 : 1)
        if !isSuccess { buffer.writeInteger(reasonCode.rawValue) }
        return
    }
    let propertiesSize = properties.contentSize
    buffer.writeMQTTFixedHeader(type, remainingLength: 1 + MQTTVariableByteInteger.size(of: propertiesSize) + propertiesSize)
    buffer.writeInteger(reasonCode.rawValue)
    properties.write(contentSize: propertiesSize, to: &buffer)
}

extension MQTTDisconnect {
    static func read(version: MQTTProtocolVersion, from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTDisconnect {
        guard version.isV5 else {
            guard body.readableBytes == 0 else { throw .malformed("DISCONNECT remaining length is not 0") }
            return MQTTDisconnect()
        }
        let (reasonCode, properties) = try readReasonAndProperties(context: .disconnect, from: &body)
        return MQTTDisconnect(reasonCode: reasonCode, properties: properties)
    }

    /// MQTT 3.1.1 DISCONNECT has no body: the reason code and properties are dropped.
    func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        guard version.isV5 else {
            buffer.writeMQTTFixedHeader(.disconnect, remainingLength: 0)
            return
        }
        writeReasonAndProperties(.disconnect, reasonCode: reasonCode, properties: properties, to: &buffer)
    }
}

extension MQTTAuth {
    /// Only called for MQTT 5; the parser rejects AUTH before 5.0 from the fixed header.
    static func read(from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTAuth {
        let (reasonCode, properties) = try readReasonAndProperties(context: .auth, from: &body)
        return MQTTAuth(reasonCode: reasonCode, properties: properties)
    }

    func write(to buffer: inout ByteBuffer) {
        writeReasonAndProperties(.auth, reasonCode: reasonCode, properties: properties, to: &buffer)
    }
}
