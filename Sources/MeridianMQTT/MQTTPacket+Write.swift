import NIOCore

extension MQTTPacket {
    /// Appends the encoded packet to `buffer`. Fields that `version` cannot carry
    /// (properties and reason codes before 5.0) are left out.
    public func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        fatalError("unimplemented")
    }
}

extension MQTTPublish {
    /// Appends the encoded PUBLISH to `buffer` (the hot path: no intermediate ``MQTTPacket``).
    public func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        fatalError("unimplemented")
    }
}
