import MeridianBrokerCore
import MeridianMQTT
import NIOCore

extension MQTTConnectionHandler {
    func handleSubscribe(_ subscribe: MQTTSubscribe) {
        guard let handle = session else { return }
        let identifiers = subscribe.properties.subscriptionIdentifiers
        if identifiers.count > 1 || identifiers.first == 0 {
            return protocolViolation(MQTTCodecError(.protocolError, "invalid subscription identifier", packetType: .subscribe))
        }
        let identifier = identifiers.first
        let now = loopContext.now
        var codes: [MQTTReasonCode] = []
        var retained: [(BrokerMessage, MQTTSubscriptionOptions, UInt32?)] = []
        for subscription in subscribe.subscriptions {
            let filter = subscription.topicFilter
            guard MQTTTopic.isValidFilter(filter) else {
                logger.notice("invalid topic filter '\(filter)' refused")
                codes.append(version == .v5 ? .topicFilterInvalid : .v3SubscribeFailure)
                continue
            }
            guard MQTTTopic.isWithinLevelLimit(filter) else {
                logger.notice("topic filter deeper than \(MQTTTopic.maximumLevels) levels refused", metadata: [
                    "levels": "\(MQTTTopic.levelCount(filter))", "address": "\(remoteAddressDescription)",
                ])
                codes.append(version == .v5 ? .topicFilterInvalid : .v3SubscribeFailure)
                continue
            }
            if version == .v5, subscription.options.noLocal, MQTTSharedFilter(parsing: filter) != nil {
                return protocolViolation(MQTTCodecError(.protocolError, "No Local on a shared subscription", packetType: .subscribe))
            }
            if let access, !access.uncached.allowsSubscription(to: filter) {
                logger.notice("subscription not allowed by the ACL", metadata: [
                    "filter": "\(filter)", "address": "\(remoteAddressDescription)",
                ])
                codes.append(version == .v5 ? .notAuthorized : .v3SubscribeFailure)
                continue
            }
            var options = subscription.options
            options.qos = min(options.qos, broker.settings.maxQoS)
            if isBridge {
                // A try_private bridge gets what MQTT 5 bridges ask for: no echo, retain flags kept (loops, I5).
                options.noLocal = true
                options.retainAsPublished = true
            }
            let result = broker.subscribe(handle, filter: filter, options: options, identifier: identifier, now: now)
            for message in result.retained { retained.append((message, options, identifier)) }
            codes.append(MQTTReasonCode(options.qos.rawValue))
            if broker.settings.logSubscriptions {
                logger.info("subscribed", metadata: ["filter": "\(filter)", "qos": "\(options.qos.rawValue)"])
            }
        }
        write(.suback(MQTTSuback(packetIdentifier: subscribe.packetIdentifier, reasonCodes: codes)))
        // Retained messages go out after the SUBACK, with the RETAIN flag set (3.3.1.3).
        for (message, options, identifier) in retained {
            let delivery = Delivery(
                message: message, qos: min(message.qos, options.qos), retain: true,
                subscriptionIdentifiers: identifier.map { [$0] } ?? []
            )
            broker.offer(delivery, to: handle, via: loopContext, now: now)
        }
    }

    func handleUnsubscribe(_ unsubscribe: MQTTUnsubscribe) {
        guard let handle = session else { return }
        var codes: [MQTTReasonCode] = []
        for filter in unsubscribe.topicFilters {
            let existed = broker.unsubscribe(handle, filter: filter)
            codes.append(existed ? .success : .noSubscriptionExisted)
        }
        write(.unsuback(MQTTUnsuback(packetIdentifier: unsubscribe.packetIdentifier, reasonCodes: version == .v5 ? codes : [])))
    }
}
