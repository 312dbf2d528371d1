import NIOCore

/// Control packet types (section 2.1.2).
public enum MQTTPacketType: UInt8, Sendable {
    case connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp
    case subscribe, suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth
}

/// One MQTT control packet, in either direction.
public enum MQTTPacket: Hashable, Sendable {
    case connect(MQTTConnect)
    case connack(MQTTConnack)
    case publish(MQTTPublish)
    case puback(MQTTAck)
    case pubrec(MQTTAck)
    case pubrel(MQTTAck)
    case pubcomp(MQTTAck)
    case subscribe(MQTTSubscribe)
    case suback(MQTTSuback)
    case unsubscribe(MQTTUnsubscribe)
    case unsuback(MQTTUnsuback)
    case pingreq
    case pingresp
    case disconnect(MQTTDisconnect)
    case auth(MQTTAuth)

    public var type: MQTTPacketType {
        switch self {
        case .connect: return .connect
        case .connack: return .connack
        case .publish: return .publish
        case .puback: return .puback
        case .pubrec: return .pubrec
        case .pubrel: return .pubrel
        case .pubcomp: return .pubcomp
        case .subscribe: return .subscribe
        case .suback: return .suback
        case .unsubscribe: return .unsubscribe
        case .unsuback: return .unsuback
        case .pingreq: return .pingreq
        case .pingresp: return .pingresp
        case .disconnect: return .disconnect
        case .auth: return .auth
        }
    }
}

/// The will message carried in CONNECT.
public struct MQTTWill: Hashable, Sendable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    /// Will properties (MQTT 5 only).
    public var properties: MQTTProperties

    public init(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties = []) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// CONNECT (section 3.1).
public struct MQTTConnect: Hashable, Sendable {
    public var protocolVersion: MQTTProtocolVersion
    /// Clean Start (5.0) / Clean Session (3.1.1).
    public var cleanStart: Bool
    public var keepAlive: UInt16
    public var clientIdentifier: String
    public var properties: MQTTProperties
    public var will: MQTTWill?
    public var username: String?
    public var password: ByteBuffer?
    /// Mosquitto's `try_private`: a 3.1/3.1.1 bridge sets the high bit of the protocol level so
    /// the broker treats it as a bridge (no echo of its own messages, retain flags kept).
    public var isBridge = false

    public init(
        protocolVersion: MQTTProtocolVersion, cleanStart: Bool, keepAlive: UInt16, clientIdentifier: String,
        properties: MQTTProperties = [], will: MQTTWill? = nil, username: String? = nil, password: ByteBuffer? = nil
    ) {
        self.protocolVersion = protocolVersion
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.clientIdentifier = clientIdentifier
        self.properties = properties
        self.will = will
        self.username = username
        self.password = password
    }
}

/// CONNACK (section 3.2). For MQTT 3.1.1 `reasonCode` holds the return code (0–5).
public struct MQTTConnack: Hashable, Sendable {
    public var sessionPresent: Bool
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(sessionPresent: Bool, reasonCode: MQTTReasonCode, properties: MQTTProperties = []) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// PUBLISH (section 3.3). The payload is a slice of the received buffer, shared, not copied.
public struct MQTTPublish: Hashable, Sendable {
    /// The topic name; empty when an MQTT 5 sender relies on a topic alias.
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when `qos > .atMostOnce`.
    public var packetIdentifier: UInt16?
    public var properties: MQTTProperties

    public init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
        packetIdentifier: UInt16? = nil, properties: MQTTProperties = []
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetIdentifier = packetIdentifier
        self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4–3.7) share one shape.
public struct MQTTAck: Hashable, Sendable {
    public var packetIdentifier: UInt16
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// Retain Handling subscription option (section 3.8.3.1).
public enum MQTTRetainHandling: UInt8, Hashable, Sendable {
    /// Send retained messages at the time of the subscribe.
    case sendOnSubscribe = 0
    /// Send retained messages only if the subscription did not exist.
    case sendOnNewSubscribe = 1
    /// Do not send retained messages.
    case doNotSend = 2
}

/// Subscription options byte (section 3.8.3.1). For MQTT 3.1.1 only `qos` is used.
public struct MQTTSubscriptionOptions: Hashable, Sendable {
    public var qos: MQTTQoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: MQTTRetainHandling

    public init(
        qos: MQTTQoS, noLocal: Bool = false, retainAsPublished: Bool = false,
        retainHandling: MQTTRetainHandling = .sendOnSubscribe
    ) {
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}

/// One topic filter and its options in SUBSCRIBE.
public struct MQTTSubscription: Hashable, Sendable {
    public var topicFilter: String
    public var options: MQTTSubscriptionOptions

    public init(topicFilter: String, options: MQTTSubscriptionOptions) {
        self.topicFilter = topicFilter
        self.options = options
    }
}

/// SUBSCRIBE (section 3.8).
public struct MQTTSubscribe: Hashable, Sendable {
    public var packetIdentifier: UInt16
    public var subscriptions: [MQTTSubscription]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, subscriptions: [MQTTSubscription], properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

/// SUBACK (section 3.9): one reason code per requested filter.
public struct MQTTSuback: Hashable, Sendable {
    public var packetIdentifier: UInt16
    public var reasonCodes: [MQTTReasonCode]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCodes: [MQTTReasonCode], properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

/// UNSUBSCRIBE (section 3.10).
public struct MQTTUnsubscribe: Hashable, Sendable {
    public var packetIdentifier: UInt16
    public var topicFilters: [String]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, topicFilters: [String], properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.topicFilters = topicFilters
        self.properties = properties
    }
}

/// UNSUBACK (section 3.11). MQTT 3.1.1 carries no reason codes: `reasonCodes` is empty there.
public struct MQTTUnsuback: Hashable, Sendable {
    public var packetIdentifier: UInt16
    public var reasonCodes: [MQTTReasonCode]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCodes: [MQTTReasonCode] = [], properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

/// DISCONNECT (section 3.14). MQTT 3.1.1 DISCONNECT has no body: reason `.normalDisconnection`.
public struct MQTTDisconnect: Hashable, Sendable {
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = []) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// AUTH (section 3.15, MQTT 5 only).
public struct MQTTAuth: Hashable, Sendable {
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = []) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}
