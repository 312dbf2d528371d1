import MeridianMQTT

/// The outcome of checking a CONNECT against the server's settings (MQTT 5 section 3.1–3.2).
public struct ConnectNegotiation: Sendable, Equatable {
    /// The client identifier to use (assigned when the client sent an empty one).
    public var clientIdentifier: String
    /// Whether the identifier was assigned by the server (and goes in CONNACK).
    public var assignedIdentifier: Bool
    /// Keep-alive in force, in seconds (0 = none).
    public var keepAlive: UInt16
    /// Whether the server changed the keep-alive (announced as Server Keep Alive).
    public var keepAliveOverridden: Bool
    /// Session Expiry Interval in seconds (UInt32.max = never).
    public var sessionExpiryInterval: UInt32
    public var clientReceiveMaximum: Int
    public var clientMaximumPacketSize: Int?
    public var clientTopicAliasMaximum: UInt16
    public var requestProblemInformation: Bool
    public var requestResponseInformation: Bool

    /// Either the negotiated parameters or the CONNACK reason code to refuse with.
    public enum Result: Sendable, Equatable {
        case accept(ConnectNegotiation)
        case refuse(MQTTReasonCode)
    }

    /// - Parameters:
    ///   - assignIdentifier: makes a unique identifier for clients that sent none.
    ///   - inProcess: the client is the broker's own (a bridge's or an inter-node link's local side),
    ///     the only kind that may use a ``PeerSession`` identifier.
    public static func negotiate(
        _ connect: MQTTConnect, settings: BrokerSettings, inProcess: Bool = false, assignIdentifier: () -> String
    ) -> Result {
        var clientIdentifier = connect.clientIdentifier
        var assigned = false
        if clientIdentifier.isEmpty {
            // 3.1.1 section 3.1.3.1: an empty id requires Clean Session 1.
            if connect.protocolVersion < .v5 && !connect.cleanStart { return .refuse(.clientIdentifierNotValid) }
            if connect.protocolVersion == .v3_1 { return .refuse(.clientIdentifierNotValid) }
            clientIdentifier = assignIdentifier()
            assigned = connect.protocolVersion == .v5
        }
        if PeerSession.isPeer(clientIdentifier) && !inProcess { return .refuse(.clientIdentifierNotValid) }
        if !inProcess, let prefix = settings.clientIdentifierPrefix, !clientIdentifier.hasPrefix(prefix) {
            return .refuse(connect.protocolVersion == .v5 ? .notAuthorized : .clientIdentifierNotValid)
        }
        if connect.protocolVersion == .v3_1 && clientIdentifier.utf8.count > 23 {
            return .refuse(.clientIdentifierNotValid)
        }
        if let will = connect.will {
            if will.qos > settings.maxQoS { return .refuse(.qosNotSupported) }
            if will.retain && !settings.retainAvailable { return .refuse(.retainNotSupported) }
            if !MQTTTopic.isValidName(will.topic) || !MQTTTopic.isWithinLevelLimit(will.topic) {
                return .refuse(.topicNameInvalid)
            }
        }
        if connect.protocolVersion == .v5,
           let method = connect.properties.authenticationMethod, !method.isEmpty {
            return .refuse(.badAuthenticationMethod)
        }

        var keepAlive = connect.keepAlive
        var overridden = false
        if settings.maxKeepalive < 65_535, keepAlive == 0 || keepAlive > settings.maxKeepalive {
            // Only MQTT 5 can tell a client to use another keep-alive (Server Keep Alive); older
            // clients are refused, as Mosquitto does, rather than dropped for a limit they never heard of.
            guard connect.protocolVersion == .v5 else { return .refuse(.clientIdentifierNotValid) }
            keepAlive = settings.maxKeepalive
            overridden = true
        }

        let sessionExpiry: UInt32
        if connect.protocolVersion == .v5 {
            sessionExpiry = connect.properties.sessionExpiryInterval ?? 0
        } else {
            sessionExpiry = connect.cleanStart ? 0 : UInt32.max
        }

        return .accept(ConnectNegotiation(
            clientIdentifier: clientIdentifier,
            assignedIdentifier: assigned,
            keepAlive: keepAlive,
            keepAliveOverridden: overridden,
            sessionExpiryInterval: sessionExpiry,
            clientReceiveMaximum: Int(connect.properties.receiveMaximum ?? 65_535),
            clientMaximumPacketSize: connect.properties.maximumPacketSize.map { Int($0) },
            clientTopicAliasMaximum: connect.properties.topicAliasMaximum ?? 0,
            requestProblemInformation: (connect.properties.requestProblemInformation ?? 1) == 1,
            requestResponseInformation: (connect.properties.requestResponseInformation ?? 0) == 1
        ))
    }

    /// The CONNACK properties that advertise the server's limits to an MQTT 5 client.
    public func connackProperties(settings: BrokerSettings, sessionExpiryCap: UInt32?) -> MQTTProperties {
        var properties = MQTTProperties()
        if assignedIdentifier { properties.append(.assignedClientIdentifier(clientIdentifier)) }
        if keepAliveOverridden { properties.append(.serverKeepAlive(keepAlive)) }
        if let cap = sessionExpiryCap, sessionExpiryInterval > cap { properties.append(.sessionExpiryInterval(cap)) }
        if settings.receiveMaximum < 65_535 { properties.append(.receiveMaximum(settings.receiveMaximum)) }
        if settings.maxQoS < .exactlyOnce { properties.append(.maximumQoS(settings.maxQoS.rawValue)) }
        if !settings.retainAvailable { properties.append(.retainAvailable(0)) }
        if settings.maxPacketSize > 0 { properties.append(.maximumPacketSize(UInt32(settings.maxPacketSize))) }
        properties.append(.topicAliasMaximum(settings.maxTopicAlias))
        properties.append(.wildcardSubscriptionAvailable(1))
        properties.append(.subscriptionIdentifierAvailable(1))
        properties.append(.sharedSubscriptionAvailable(1))
        return properties
    }
}
