import NIOCore

extension MQTTPacket {
    /// Appends the encoded packet to `buffer`. Fields that `version` cannot carry
    /// (properties and reason codes before 5.0) are left out.
    ///
    /// CONNECT is written for its own ``MQTTConnect/protocolVersion``. AUTH does not exist
    /// before MQTT 5: writing it for an older version is a programmer error and writes nothing.
    public func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        switch self {
        case .connect(let connect): connect.write(to: &buffer)
        case .connack(let connack): connack.write(version: version, to: &buffer)
        case .publish(let publish): publish.write(version: version, to: &buffer)
        case .puback(let ack): ack.write(.puback, version: version, to: &buffer)
        case .pubrec(let ack): ack.write(.pubrec, version: version, to: &buffer)
        case .pubrel(let ack): ack.write(.pubrel, version: version, to: &buffer)
        case .pubcomp(let ack): ack.write(.pubcomp, version: version, to: &buffer)
        case .subscribe(let subscribe): subscribe.write(version: version, to: &buffer)
        case .suback(let suback): suback.write(version: version, to: &buffer)
        case .unsubscribe(let unsubscribe): unsubscribe.write(version: version, to: &buffer)
        case .unsuback(let unsuback): unsuback.write(version: version, to: &buffer)
        case .pingreq: buffer.writeMQTTFixedHeader(.pingreq, remainingLength: 0)
        case .pingresp: buffer.writeMQTTFixedHeader(.pingresp, remainingLength: 0)
        case .disconnect(let disconnect): disconnect.write(version: version, to: &buffer)
        case .auth(let auth):
            guard version.isV5 else {
                assertionFailure("AUTH cannot be written before MQTT 5")
                return
            }
            auth.write(to: &buffer)
        }
    }
}
