import MeridianBrokerCore
import MeridianMQTT
import MeridianStore
import NIOCore

extension Broker {
    /// Rebuilds the sessions, subscriptions, queues, QoS 2 state, retained messages and delayed
    /// wills the store held when the broker stopped. Sessions come back offline; their expiry and
    /// their wills are timed from what the store recorded.
    func restore(_ state: RecoveredState, via context: LoopContext) {
        let now = context.now
        // Rounded down here, as stored times were rounded up: remaining lifetimes come out long, never short.
        let wallNow = unixTimeNanoseconds() / 1_000_000_000
        raiseLastMessageID(to: state.lastMessageID)
        var expiries: [(SessionHandle, TimeAmount)] = []
        var handles: [String: SessionHandle] = [:]
        // The store is input too (I9): what a client could not send today is not restored either,
        // so a poison row written before the bound existed cannot take down a restart.
        var refused: [StoreOperation] = []
        for recovered in state.sessions {
            let handle = SessionHandle(clientIdentifier: recovered.session.clientID, limits: settings.sessionLimits, receiveMaximum: settings.receiveMaximum, store: store)
            var inflight: [(packetIdentifier: UInt16, delivery: Delivery, released: Bool)] = []
            var queue: [Delivery] = []
            let clientID = recovered.session.clientID
            for stored in recovered.messages {
                guard MQTTTopic.isWithinLevelLimit(stored.message.topic) else {
                    refused.append(.deleteMessage(clientID: clientID, messageID: stored.messageID))
                    continue
                }
                let delivery = stored.message.delivery(now: now, wallNow: wallNow, storeID: stored.messageID)
                if let packetID = stored.packetID {
                    inflight.append((packetID, delivery, stored.released))
                } else {
                    queue.append(delivery)
                }
            }
            handle.lock.withLock {
                handle.identity = SessionIdentity(stored: recovered.session.identity)
                handle.expiryInterval = recovered.session.expiryInterval
                handle.flow.protocolVersion = recovered.session.protocolVersion
                handle.flow.restore(inflight: inflight, queue: queue)
                handle.inbound = InboundFlow(receiveMaximum: Int(settings.receiveMaximum), unreleased: Set(recovered.inboundQoS2))
                for subscription in recovered.subscriptions {
                    guard MQTTTopic.isWithinLevelLimit(subscription.filter) else {
                        refused.append(.deleteSubscription(clientID: clientID, filter: subscription.filter))
                        continue
                    }
                    handle.subscriptions[subscription.filter] = .init(options: subscription.options, identifier: subscription.identifier)
                }
            }
            handles[recovered.session.clientID] = handle
            let expiry = recovered.session.expiryInterval
            if expiry != UInt32.max {
                let disconnectedAt = recovered.session.disconnectedAt ?? unixTime()
                expiries.append((handle, timeUntil(unixSeconds: disconnectedAt + Int64(expiry))))
            }
        }
        var retained: [(topic: String, message: BrokerMessage?, version: RetainedVersion?)] = []
        for stored in state.retained {
            guard MQTTTopic.isWithinLevelLimit(stored.topic) else {
                refused.append(.putRetained(topic: stored.topic, nil))
                continue
            }
            retained.append((
                stored.topic, stored.message?.brokerMessage(now: now, wallNow: wallNow),
                stored.version.map { RetainedVersion(time: $0.time, node: $0.node) }))
        }
        let wills = state.wills.filter { will in
            if MQTTTopic.isWithinLevelLimit(will.message.topic) { return true }
            refused.append(.deleteWill(clientID: will.clientID))
            return false
        }
        if !refused.isEmpty {
            logger.warning("store: rows with topics deeper than \(MQTTTopic.maximumLevels) levels removed, not restored", metadata: [
                "rows": "\(refused.count)",
            ])
            store?.enqueue(refused)
        }
        adoptRestored(sessions: handles, retained: retained)
        for (handle, remaining) in expiries {
            scheduleExpiry(of: handle, generation: 0, after: remaining, on: context.eventLoop)
        }
        for will in wills {
            let handle = handles[will.clientID]
                ?? SessionHandle(clientIdentifier: will.clientID, limits: settings.sessionLimits, receiveMaximum: settings.receiveMaximum, store: store)
            let message = will.message
            let publish = MQTTPublish(
                topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                properties: message.properties
            )
            scheduleWill(publish, of: handle, generation: 0, after: timeUntil(unixSeconds: will.dueAt), via: context)
        }
        logger.notice("store recovered", metadata: [
            "sessions": "\(state.sessions.count)", "retained": "\(state.retained.count)",
            "messages": "\(state.sessions.reduce(0) { $0 + $1.messages.count })", "wills": "\(state.wills.count)",
        ])
    }
}
