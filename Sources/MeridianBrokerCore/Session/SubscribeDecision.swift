import MeridianMQTT

/// The broker's answer to a SUBSCRIBE (MQTT 5 3.8, 3.9), decided per filter before anything is
/// subscribed: a grant with the options in force, or a refusal with its SUBACK reason code; or a
/// protocol error that closes the connection. Pure: the ACL's answer comes in as a function.
public enum SubscribeDecision {
    public enum Refusal: Sendable, Equatable {
        /// Not a valid filter (wildcards inside a level, `#` not last, empty shared group...).
        case invalidFilter
        /// More levels than ``MQTTTopic/maximumLevels`` (I9).
        case tooDeep
        /// The ACL does not let the client subscribe to it.
        case notAuthorized
    }

    public enum Filter: Sendable, Equatable {
        case grant(filter: String, options: MQTTSubscriptionOptions)
        case refuse(filter: String, Refusal, code: MQTTReasonCode)

        /// The SUBACK reason code: the granted QoS, or the refusal's code.
        public var reasonCode: MQTTReasonCode {
            switch self {
            case .grant(_, let options): return MQTTReasonCode(options.qos.rawValue)
            case .refuse(_, _, let code): return code
            }
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// Answer with a SUBACK of these, in order; `identifier` is the Subscription Identifier.
        case answer([Filter], identifier: UInt32?)
        /// Close the connection (MQTT 5: DISCONNECT 0x82 Protocol Error).
        case protocolError(String)
    }

    /// - Parameters:
    ///   - maxQoS: the broker's `max_qos`: granted QoS is at most this.
    ///   - isBridge: a 3.1.1 `try_private` bridge gets what MQTT 5 bridges ask for: No Local and
    ///     Retain As Published, so loops stay visible (I5).
    ///   - maySubscribe: the ACL's answer for a filter (always true without an ACL).
    public static func decide(
        _ subscribe: MQTTSubscribe, version: MQTTProtocolVersion, maxQoS: MQTTQoS, isBridge: Bool,
        maySubscribe: (String) -> Bool
    ) -> Outcome {
        let identifiers = subscribe.properties.subscriptionIdentifiers
        if identifiers.count > 1 || identifiers.first == 0 { return .protocolError("invalid subscription identifier") }
        let failure = version == .v5 ? MQTTReasonCode.topicFilterInvalid : .v3SubscribeFailure
        var filters: [Filter] = []
        for subscription in subscribe.subscriptions {
            let filter = subscription.topicFilter
            guard MQTTTopic.isValidFilter(filter) else {
                filters.append(.refuse(filter: filter, .invalidFilter, code: failure))
                continue
            }
            guard MQTTTopic.isWithinLevelLimit(filter) else {
                filters.append(.refuse(filter: filter, .tooDeep, code: failure))
                continue
            }
            if version == .v5, subscription.options.noLocal, MQTTSharedFilter(parsing: filter) != nil {
                return .protocolError("No Local on a shared subscription")
            }
            guard maySubscribe(filter) else {
                filters.append(.refuse(filter: filter, .notAuthorized, code: version == .v5 ? .notAuthorized : .v3SubscribeFailure))
                continue
            }
            var options = subscription.options
            options.qos = min(options.qos, maxQoS)
            if isBridge {
                options.noLocal = true
                options.retainAsPublished = true
            }
            filters.append(.grant(filter: filter, options: options))
        }
        return .answer(filters, identifier: identifiers.first)
    }
}
