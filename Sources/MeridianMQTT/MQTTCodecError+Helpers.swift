extension MQTTCodecError {
    @inline(never)
    static func malformed(_ detail: String) -> MQTTCodecError { MQTTCodecError(.malformedPacket, detail) }

    @inline(never)
    static func protocolError(_ detail: String) -> MQTTCodecError { MQTTCodecError(.protocolError, detail) }
}
