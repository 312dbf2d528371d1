import MeridianMQTT

/// What the broker does with a client's PUBLISH before routing it (MQTT 5 3.3, 4.12; the broker's
/// limits and ACL), in the order the checks apply: route it, refuse it with a reason code, drop it
/// with an acknowledgement, or close the connection. Pure: the rate limit and the ACL come in as
/// functions, called only when the earlier checks passed (so a refused message takes no token).
public enum PublishCheck {
    public enum Refusal: Sendable, Equatable {
        /// More levels than ``MQTTTopic/maximumLevels`` (MQTT 5: 0x90 Topic Name invalid).
        case topicTooDeep
        /// Over the client's `max_publish_rate` (0x96 Message rate too high).
        case overRate
        /// The ACL does not let the client write the topic (0x87 Not authorized).
        case notAuthorized
    }

    public enum Verdict: Sendable, Equatable {
        case route
        /// Not routed; MQTT 5 QoS 1/2 is told `reason` in PUBACK/PUBREC, 3.1.1 gets a plain acknowledgement.
        case refuse(MQTTReasonCode, Refusal)
        /// Payload over `message_size_limit`: not routed, QoS 1/2 acknowledged with 0x95 Packet too large.
        case dropOversized
        /// Close the connection with `reason` (MQTT 5 DISCONNECT); the will is published.
        case disconnect(MQTTReasonCode)
    }

    public static func check(
        _ publish: MQTTPublish, version: MQTTProtocolVersion, settings: BrokerSettings,
        withinRate: () -> Bool, mayPublish: (String) -> Bool
    ) -> Verdict {
        if !MQTTTopic.isWithinLevelLimit(publish.topic) {
            // 3.1.1 has no way to say no but closing.
            return version == .v5 ? .refuse(.topicNameInvalid, .topicTooDeep) : .disconnect(.topicNameInvalid)
        }
        if publish.qos > settings.maxQoS { return .disconnect(.qosNotSupported) }
        if publish.retain && !settings.retainAvailable { return .disconnect(.retainNotSupported) }
        if settings.messageSizeLimit > 0 && publish.payload.readableBytes > settings.messageSizeLimit { return .dropOversized }
        if !withinRate() { return .refuse(.messageRateTooHigh, .overRate) }
        if !mayPublish(publish.topic) { return .refuse(.notAuthorized, .notAuthorized) }
        return .route
    }
}
