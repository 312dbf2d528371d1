import NIOCore

/// One MQTT 5 property (section 2.2.2.2). The identifier and wire type of each case are
/// in ``MQTTProperty/identifier`` and ``MQTTPropertyIdentifier/wireType``.
public enum MQTTProperty: Hashable, Sendable {
    case payloadFormatIndicator(UInt8)
    case messageExpiryInterval(UInt32)
    case contentType(String)
    case responseTopic(String)
    case correlationData(ByteBuffer)
    case subscriptionIdentifier(UInt32)
    case sessionExpiryInterval(UInt32)
    case assignedClientIdentifier(String)
    case serverKeepAlive(UInt16)
    case authenticationMethod(String)
    case authenticationData(ByteBuffer)
    case requestProblemInformation(UInt8)
    case willDelayInterval(UInt32)
    case requestResponseInformation(UInt8)
    case responseInformation(String)
    case serverReference(String)
    case reasonString(String)
    case receiveMaximum(UInt16)
    case topicAliasMaximum(UInt16)
    case topicAlias(UInt16)
    case maximumQoS(UInt8)
    case retainAvailable(UInt8)
    case userProperty(String, String)
    case maximumPacketSize(UInt32)
    case wildcardSubscriptionAvailable(UInt8)
    case subscriptionIdentifierAvailable(UInt8)
    case sharedSubscriptionAvailable(UInt8)

    public var identifier: MQTTPropertyIdentifier {
        switch self {
        case .payloadFormatIndicator: return .payloadFormatIndicator
        case .messageExpiryInterval: return .messageExpiryInterval
        case .contentType: return .contentType
        case .responseTopic: return .responseTopic
        case .correlationData: return .correlationData
        case .subscriptionIdentifier: return .subscriptionIdentifier
        case .sessionExpiryInterval: return .sessionExpiryInterval
        case .assignedClientIdentifier: return .assignedClientIdentifier
        case .serverKeepAlive: return .serverKeepAlive
        case .authenticationMethod: return .authenticationMethod
        case .authenticationData: return .authenticationData
        case .requestProblemInformation: return .requestProblemInformation
        case .willDelayInterval: return .willDelayInterval
        case .requestResponseInformation: return .requestResponseInformation
        case .responseInformation: return .responseInformation
        case .serverReference: return .serverReference
        case .reasonString: return .reasonString
        case .receiveMaximum: return .receiveMaximum
        case .topicAliasMaximum: return .topicAliasMaximum
        case .topicAlias: return .topicAlias
        case .maximumQoS: return .maximumQoS
        case .retainAvailable: return .retainAvailable
        case .userProperty: return .userProperty
        case .maximumPacketSize: return .maximumPacketSize
        case .wildcardSubscriptionAvailable: return .wildcardSubscriptionAvailable
        case .subscriptionIdentifierAvailable: return .subscriptionIdentifierAvailable
        case .sharedSubscriptionAvailable: return .sharedSubscriptionAvailable
        }
    }
}

/// The wire encoding of a property value (section 2.2.2.2).
public enum MQTTPropertyWireType: Sendable {
    case byte, twoByteInteger, fourByteInteger, variableByteInteger, utf8String, binaryData, utf8StringPair
}

/// The packets a property may appear in; the will properties of CONNECT count as `.will`.
public enum MQTTPropertyContext: Sendable, Hashable {
    case connect, connack, publish, will, puback, pubrec, pubrel, pubcomp
    case subscribe, suback, unsubscribe, unsuback, disconnect, auth
}

/// Property identifiers, with their wire type and where they may appear.
public enum MQTTPropertyIdentifier: UInt8, Sendable, CaseIterable {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A

    public var wireType: MQTTPropertyWireType {
        switch self {
        case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS,
             .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
             .sharedSubscriptionAvailable:
            return .byte
        case .serverKeepAlive, .receiveMaximum, .topicAliasMaximum, .topicAlias:
            return .twoByteInteger
        case .messageExpiryInterval, .sessionExpiryInterval, .willDelayInterval, .maximumPacketSize:
            return .fourByteInteger
        case .subscriptionIdentifier:
            return .variableByteInteger
        case .contentType, .responseTopic, .assignedClientIdentifier, .authenticationMethod,
             .responseInformation, .serverReference, .reasonString:
            return .utf8String
        case .correlationData, .authenticationData:
            return .binaryData
        case .userProperty:
            return .utf8StringPair
        }
    }

    /// Whether the property may appear more than once in one packet.
    public var mayRepeat: Bool { self == .userProperty || self == .subscriptionIdentifier }

    /// The packets this property may appear in (MQTT 5.0 table 2-4).
    public var allowedContexts: Set<MQTTPropertyContext> {
        switch self {
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
            return [.publish, .will]
        case .subscriptionIdentifier: return [.publish, .subscribe]
        case .sessionExpiryInterval: return [.connect, .connack, .disconnect]
        case .assignedClientIdentifier: return [.connack]
        case .serverKeepAlive: return [.connack]
        case .authenticationMethod, .authenticationData: return [.connect, .connack, .auth]
        case .requestProblemInformation: return [.connect]
        case .willDelayInterval: return [.will]
        case .requestResponseInformation: return [.connect]
        case .responseInformation: return [.connack]
        case .serverReference: return [.connack, .disconnect]
        case .reasonString:
            return [.connack, .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback, .disconnect, .auth]
        case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize: return [.connect, .connack]
        case .topicAlias: return [.publish]
        case .maximumQoS, .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
             .sharedSubscriptionAvailable:
            return [.connack]
        case .userProperty:
            return [.connect, .connack, .publish, .will, .puback, .pubrec, .pubrel, .pubcomp,
                    .subscribe, .suback, .unsubscribe, .unsuback, .disconnect, .auth]
        }
    }
}
