import MeridianBrokerCore
import MeridianMQTT
import NIOCore

extension MQTTConnectionHandler {
    func handleSubscribe(_ subscribe: MQTTSubscribe) {
        guard let handle = session else { return }
        let decision = SubscribeDecision.decide(
            subscribe, version: version, maxQoS: broker.settings.maxQoS, isBridge: isBridge,
            maySubscribe: { [access] filter in access?.uncached.allowsSubscription(to: filter) ?? true })
        guard case .answer(let filters, let identifier) = decision else {
            if case .protocolError(let reason) = decision {
                protocolViolation(MQTTCodecError(.protocolError, reason, packetType: .subscribe))
            }
            return
        }
        let now = loopContext.now
        var retained: [(BrokerMessage, MQTTSubscriptionOptions)] = []
        for decided in filters {
            switch decided {
            case .refuse(let filter, .invalidFilter, _):
                logger.notice("invalid topic filter '\(filter)' refused")
            case .refuse(let filter, .tooDeep, _):
                logger.notice("topic filter deeper than \(MQTTTopic.maximumLevels) levels refused", metadata: [
                    "levels": "\(MQTTTopic.levelCount(filter))", "address": "\(remoteAddressDescription)",
                ])
            case .refuse(let filter, .notAuthorized, _):
                logger.notice("subscription not allowed by the ACL", metadata: [
                    "filter": "\(filter)", "address": "\(remoteAddressDescription)",
                ])
            case .grant(let filter, let options):
                let result = broker.subscribe(handle, filter: filter, options: options, identifier: identifier, now: now)
                for message in result.retained { retained.append((message, options)) }
                if broker.settings.logSubscriptions {
                    logger.info("subscribed", metadata: ["filter": "\(filter)", "qos": "\(options.qos.rawValue)"])
                }
            }
        }
        write(.suback(MQTTSuback(packetIdentifier: subscribe.packetIdentifier, reasonCodes: filters.map(\.reasonCode))))
        // Retained messages go out after the SUBACK, with the RETAIN flag set (3.3.1.3).
        for (message, options) in retained {
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
