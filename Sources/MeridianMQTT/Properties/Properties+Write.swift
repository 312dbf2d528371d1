import NIOCore

extension MQTTProperty {
    /// Bytes on the wire: the identifier plus the value.
    var encodedSize: Int {
        switch self {
        case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS,
            .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
            .sharedSubscriptionAvailable:
            return 2
        case .serverKeepAlive, .receiveMaximum, .topicAliasMaximum, .topicAlias:
            return 3
        case .messageExpiryInterval, .sessionExpiryInterval, .willDelayInterval, .maximumPacketSize:
            return 5
        case .subscriptionIdentifier(let value):
            return 1 + MQTTVariableByteInteger.size(of: Int(value))
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            return 1 + mqttStringSize(s)
        case .correlationData(let data), .authenticationData(let data):
            return 3 + data.readableBytes
        case .userProperty(let key, let value):
            return 1 + mqttStringSize(key) + mqttStringSize(value)
        }
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(self.identifier.rawValue)
        switch self {
        case .payloadFormatIndicator(let v), .requestProblemInformation(let v), .requestResponseInformation(let v),
            .maximumQoS(let v), .retainAvailable(let v), .wildcardSubscriptionAvailable(let v),
            .subscriptionIdentifierAvailable(let v), .sharedSubscriptionAvailable(let v):
            buffer.writeInteger(v)
        case .serverKeepAlive(let v), .receiveMaximum(let v), .topicAliasMaximum(let v), .topicAlias(let v):
            buffer.writeInteger(v)
        case .messageExpiryInterval(let v), .sessionExpiryInterval(let v), .willDelayInterval(let v),
            .maximumPacketSize(let v):
            buffer.writeInteger(v)
        case .subscriptionIdentifier(let v):
            buffer.writeMQTTVariableByteInteger(Int(v))
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            buffer.writeMQTTString(s)
        case .correlationData(let data), .authenticationData(let data):
            buffer.writeMQTTBinary(data)
        case .userProperty(let key, let value):
            buffer.writeMQTTString(key)
            buffer.writeMQTTString(value)
        }
    }
}

extension MQTTProperties {
    /// The bytes the properties take, without the property length in front.
    var contentSize: Int {
        var size = 0
        for property in self.list { size += property.encodedSize }
        return size
    }

    /// The bytes the property length and the properties take together.
    var encodedSize: Int {
        let content = self.contentSize
        return MQTTVariableByteInteger.size(of: content) + content
    }

    /// Writes the property length then the properties; `contentSize` must be `self.contentSize`.
    func write(contentSize: Int, to buffer: inout ByteBuffer) {
        buffer.writeMQTTVariableByteInteger(contentSize)
        for property in self.list { property.write(to: &buffer) }
    }

    func write(to buffer: inout ByteBuffer) {
        self.write(contentSize: self.contentSize, to: &buffer)
    }
}
