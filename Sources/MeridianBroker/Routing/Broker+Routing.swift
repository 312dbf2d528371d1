import Logging
import MeridianBrokerCore
import MeridianMQTT
import MeridianStore
import NIOCore

/// Routing: matching a published message against the subscription tree and offering it to each
/// matching session (sent, queued, stored or dropped), with shared-subscription redelivery.
extension Broker {
    /// What routing one message did.
    struct RouteOutcome {
        /// The number of sessions it was addressed to.
        var count = 0
        /// Sessions whose queue passed its bounds under the backpressure policy.
        var congested: [SessionHandle] = []
        /// A session with the refuse policy had no room: the publisher is told (0x97).
        var refused = false
        /// The commits of what the message left in the store (for persistent sessions, or as retained):
        /// a QoS 1/2 acknowledgement must wait for them (invariant I1).
        var commits: [EventLoopFuture<Void>] = []
    }

    /// Routes a message to every matching session, storing it first if it is retained.
    /// - Parameter peerSharedGroup: for a message from another node (``BrokerMessage/fromPeer``),
    ///   the shared group it chose this node for (see ``routeFromPeer(_:_:group:into:)``).
    @discardableResult
    func route(_ message: BrokerMessage, via context: LoopContext, now: NIODeadline, peerSharedGroup: String? = nil) -> RouteOutcome {
        if message.sequence == 0 {
            // Wills and $SYS arrive unnumbered; published messages are numbered when received.
            var numbered = message
            numbered.sequence = context.nextMessageSequence()
            return route(numbered, via: context, now: now, peerSharedGroup: peerSharedGroup)
        }
        var message = message
        var outcome = RouteOutcome()
        var targets: [(SubscriptionEntry<SessionHandle>, String?)] = []
        // The common case, one plain subscriber, goes without building the target list.
        var single: SubscriptionEntry<SessionHandle>?
        subscriptionsLock.withReadLock {
            if message.retain {
                // In a cluster a message from another node may be older than what is here (``RetainedMessages``).
                let changed = retainedLock.withLock { retained.take(&message, wallTime: unixTimeNanoseconds(), node: nodeName) }
                // $SYS is rebuilt every sys_interval: storing it would only wear the flash.
                if changed, let store, !message.topic.hasPrefix("$SYS/") {
                    let stored = message.payload.readableBytes == 0 ? nil : StoredMessage(message, now: now, wallNow: unixTime())
                    let version = cluster != nil ? message.retainedVersion.map { ($0.time, $0.node) } : nil
                    let operation = StoreOperation.putRetained(topic: message.topic, stored, version: version)
                    if message.qos == .atMostOnce {
                        store.enqueue([operation])
                    } else {
                        outcome.commits.append(store.commit([operation], on: context.eventLoop))
                    }
                }
            }
            let match = context.matchCache.match(message.topic, in: tree)
            if match.isEmpty { return }
            if message.fromPeer {
                // Another node chose: its plain subscriptions here, or one member of one shared group.
                if peerSharedGroup == nil && match.entries.count == 1 {
                    single = match.entries[0]
                    return
                }
                return routeFromPeer(message, match, group: peerSharedGroup, into: &targets)
            }
            if match.groups.isEmpty && match.entries.count == 1 {
                single = match.entries[0]
                return
            }
            targets.reserveCapacity(match.entries.count + match.groups.count)
            for entry in match.entries { targets.append((entry, nil)) }
            if match.groups.isEmpty { return }
            sharedGroupLock.withLock {
                for group in match.groups {
                    // A member on this node first; else another node's session (one per node with
                    // members); else an offline member, which queues it. One scan of the group.
                    if let member = group.next(choosing: { member in member.isOnline ? (member.isPeer ? .acceptable : .preferred) : .unsuitable }) {
                        targets.append((member, "$share/\(group.name)/"))
                    }
                }
            }
        }
        // A retained message goes to every other node of a cluster, which keeps it for its own
        // subscribers ($SYS excepted: each node has its own).
        let broadcast = message.retain && cluster != nil && !message.fromPeer && !message.topic.hasPrefix("$SYS/")
        let peers = broadcast ? peerSessions.withLockedValue { $0 } : []
        if let single, peers.isEmpty {
            outcome.count = 1
            deliver(message, entry: single, identifiers: nil, shared: nil, via: context, now: now, outcome: &outcome)
            return outcome
        }
        if let single { targets.append((single, nil)) }
        outcome.count = targets.count
        for peer in peers { targets.append((SubscriptionEntry(subscriber: peer, options: PeerSession.subscriptionOptions, identifier: nil), nil)) }
        if targets.isEmpty { return outcome }
        if targets.count == 1 {
            deliver(message, entry: targets[0].0, identifiers: nil, shared: targets[0].1, via: context, now: now, outcome: &outcome)
            return outcome
        }
        deliverOncePerSession(message, targets, via: context, now: now, outcome: &outcome)
        return outcome
    }

    /// Delivers to each target; a session's overlapping plain subscriptions make one delivery with
    /// the highest QoS and every identifier (a shared one is a delivery of its own).
    func deliverOncePerSession(
        _ message: BrokerMessage, _ targets: [(SubscriptionEntry<SessionHandle>, String?)], via context: LoopContext,
        now: NIODeadline, outcome: inout RouteOutcome
    ) {
        var merged: [SessionHandle: (SubscriptionEntry<SessionHandle>, [UInt32])] = [:]
        var order: [SessionHandle] = []
        for (entry, shared) in targets {
            if shared != nil {
                deliver(message, entry: entry, identifiers: nil, shared: shared, via: context, now: now, outcome: &outcome)
                continue
            }
            if var existing = merged[entry.subscriber] {
                if entry.options.qos > existing.0.options.qos { existing.0.options.qos = entry.options.qos }
                existing.0.options.retainAsPublished = existing.0.options.retainAsPublished || entry.options.retainAsPublished
                existing.0.options.noLocal = existing.0.options.noLocal && entry.options.noLocal
                if let id = entry.identifier { existing.1.append(id) }
                merged[entry.subscriber] = existing
            } else {
                merged[entry.subscriber] = (entry, entry.identifier.map { [$0] } ?? [])
                order.append(entry.subscriber)
            }
        }
        for handle in order {
            let (entry, identifiers) = merged[handle]!
            deliver(message, entry: entry, identifiers: identifiers, shared: nil, via: context, now: now, outcome: &outcome)
        }
    }

    /// The targets of a message another node forwarded (called under the tree's read lock): the plain
    /// subscriptions, or with `group` one local member of that group.
    private func routeFromPeer(
        _ message: BrokerMessage, _ match: MatchCache<SessionHandle>.Match, group name: String?,
        into targets: inout [(SubscriptionEntry<SessionHandle>, String?)]
    ) {
        guard let name else {
            targets.reserveCapacity(match.entries.count)
            for entry in match.entries { targets.append((entry, nil)) }
            return
        }
        guard let group = match.groups.first(where: { $0.name == name }), group.members.contains(where: { !$0.subscriber.isPeer }) else { return }
        if let member = sharedGroupLock.withLock({ group.next(where: { $0.isOnline && !$0.isPeer }) }), !member.subscriber.isPeer {
            targets.append((member, "$share/\(name)/"))
        }
    }

    func deliver(
        _ message: BrokerMessage, entry: SubscriptionEntry<SessionHandle>, identifiers: [UInt32]?, shared: String?,
        via context: LoopContext, now: NIODeadline, outcome: inout RouteOutcome
    ) {
        if entry.options.noLocal, let origin = message.origin, origin == entry.subscriber.clientIdentifier { return }
        // From another node: its publishing node forwarded it to every node that wants it.
        if message.fromPeer && entry.subscriber.isPeer {
            outcome.count -= 1
            return
        }
        var delivery = Delivery(
            message: message,
            qos: min(message.qos, entry.options.qos),
            retain: entry.options.retainAsPublished ? message.retain : false,
            subscriptionIdentifiers: identifiers ?? entry.identifier.map { [$0] } ?? [],
            sharedFilter: shared
        )
        if entry.subscriber.isPeer {
            // The node's own marks only: a client's user properties cannot pass for them.
            PeerSession.removeMarks(from: &delivery.message.properties)
            if message.retain, let version = message.retainedVersion {
                delivery.message.properties.append(.userProperty(PeerSession.retainedVersionKey, version.description))
            }
            if delivery.qos != .atMostOnce {
                delivery.message.properties.append(.userProperty(PeerSession.identityKey, identity(of: message)))
            }
        } else if entry.subscriber.isBridge {
            // Loops (I5): a message goes over bridges only up to the hop limit, and carries its trace.
            guard message.hops < settings.maxBridgeHops else { return }
            if message.hops == 0 {
                let id = MeshTrace.identity(node: nodeName, sequence: message.sequence)
                MeshTrace.stamp(&delivery.message.properties, hops: 0, id: id)
            }
        }
        let result = offer(delivery, to: entry.subscriber, via: context, now: now)
        // A subscriber the ACL keeps from reading the topic does not count as a match (MQTT 5 0x10).
        if result.denied { outcome.count -= 1 }
        if result.congested { outcome.congested.append(entry.subscriber) }
        if let commit = result.commit { outcome.commits.append(commit) }
        if result.refused { outcome.refused = true }
    }

    /// What offering one delivery to a session did, for the publisher's answer.
    struct OfferOutcome {
        /// The session's queue is past its bounds under the backpressure policy.
        var congested = false
        /// The commit of the delivery's row, when it was handed to the store.
        var commit: EventLoopFuture<Void>?
        /// The publisher must be refused (queue full with the refuse policy, or the disk floor).
        var refused = false
        /// The ACL kept the subscriber from reading the topic: not a match.
        var denied = false
    }

    /// Offers one delivery to a session: sent at once, queued or dropped (counted).
    ///
    /// A QoS 1/2 delivery to a persistent session is appended to the store first (the caller waits
    /// for the commit before acknowledging the publisher). A shared-subscription delivery to a member
    /// that went offline since it was chosen goes to another member instead (unless `redistributing`,
    /// which is that second choice).
    @discardableResult
    func offer(
        _ delivery: Delivery, to handle: SessionHandle, via context: LoopContext, now: NIODeadline, redistributing: Bool = false,
        marked: Bool = false
    ) -> OfferOutcome {
        if handle.isPeer, !marked, let shared = delivery.sharedFilter {
            // For one member of the group on that node (the receiver reads and removes the mark).
            var marked = delivery
            marked.message.properties.append(.userProperty(PeerSession.sharedGroupKey, String(shared.dropFirst("$share/".count).dropLast())))
            return offer(marked, to: handle, via: context, now: now, redistributing: redistributing, marked: true)
        }
        var redirect = false
        var refusedForDisk = false
        var denied = false
        var commit: EventLoopFuture<Void>?
        // Results of the critical section, set inside it (a closure returning Void keeps the
        // lock's generic call free of a tuple type built at run time).
        var target: (any DeliveryTarget)?
        var result = OutboundFlow.Offer.queued
        var scheduleDrain = false
        var movedTo: String?
        var heldOrSecondCopy = false
        handle.lock.withLock { () -> Void in
            // A session that moved to another node sends there what still comes for it, after its state.
            if handle.departed != nil {
                switch handle.departed!.offer(delivery) {
                case .held, .drop: heldOrSecondCopy = true
                case .forward(let node): movedTo = node
                }
                return
            }
            if isSecondCopy(delivery, to: handle, now: now) {
                heldOrSecondCopy = true
                return
            }
            // The ACL's read check, whatever the path (routing, retained, wills, shared redelivery):
            // a wildcard subscription never delivers a topic the subscriber may not read. Without an
            // ACL `access` is nil and this is one comparison; with one, usually a cache hit.
            if handle.access != nil, handle.access?.allows(.read, topic: delivery.message.topic) == false {
                denied = true
                return
            }
            target = handle.target
            if delivery.sharedFilter != nil && !redistributing && (target == nil || !handle.isLive) {
                redirect = true
                return
            }
            let persist = store != nil && delivery.qos != .atMostOnce && handle.isPersistent && handle.isLive
            if persist && diskLow.withLockedValue({ $0 }) {
                refusedForDisk = true
                result = .dropped(.diskFloor)
                return
            }
            let remote = target.map { $0.loopIndex != context.index } ?? false
            if persist, let store {
                var stored = delivery
                let id = nextMessageID()
                stored.storeID = id
                result = handle.flow.offer(stored, online: target != nil, sendNow: !remote, now: now)
                if case .dropped = result {} else {
                    // Submitted under the session lock, so it precedes the flow's later effects on this row.
                    commit = store.commit([.appendMessage(
                        clientID: handle.clientIdentifier, messageID: id, StoredMessage(stored, now: now, wallNow: unixTime()))],
                        on: context.eventLoop)
                }
            } else {
                result = handle.flow.offer(delivery, online: target != nil, sendNow: !remote, now: now)
            }
            handle.persistFlowEffects()
            switch result {
            case .queued, .queuedOverLimit, .queuedDroppingOldest:
                guard remote, !handle.drainScheduled, handle.flow.canDrain else { return }
                handle.drainScheduled = true
                scheduleDrain = true
            case .send, .dropped:
                return
            }
        }
        if let movedTo { return forwardForMovedSession(delivery, of: handle, to: movedTo, via: context, now: now) }
        if heldOrSecondCopy { return OfferOutcome() }
        if denied { return OfferOutcome(denied: true) }
        if redirect {
            redistributeShared([delivery], from: handle, via: context, now: now)
            return OfferOutcome()
        }
        switch result {
        case .send(let publish):
            if let target { context.send(publish, to: target) }
        case .queued, .queuedOverLimit, .queuedDroppingOldest:
            if scheduleDrain, let target { context.scheduleDrain(of: target) }
            if case .queuedDroppingOldest = result { recordDrop(.queueFull, clientIdentifier: handle.clientIdentifier, now: now) }
            if case .queuedOverLimit = result { return OfferOutcome(congested: true, commit: commit) }
        case .dropped(let reason):
            recordDrop(reason, clientIdentifier: handle.clientIdentifier, now: now)
            if refusedForDisk { return OfferOutcome(refused: true) }
            if reason == .queueFull && delivery.qos != .atMostOnce && handle.lock.withLock({ handle.flow.limits.refuseWhenFull }) {
                return OfferOutcome(commit: commit, refused: true)
            }
        }
        return OfferOutcome(commit: commit)
    }

    func recordDrop(_ reason: DropReason, clientIdentifier: String, now: NIODeadline) {
        let shouldLog: Bool = lock.withLock {
            drops[reason, default: 0] += 1
            if let handle = sessions[clientIdentifier], handle.isBridge || handle.isPeer {
                bridgeDrops[clientIdentifier, default: [:]][reason, default: 0] += 1
            }
            guard now - lastDropLog >= .seconds(1) else { return false }
            lastDropLog = now
            return true
        }
        if shouldLog && reason != .offlineQoS0 {
            logger.warning("message dropped", metadata: ["client_id": "\(clientIdentifier)", "reason": "\(reason)"])
        }
    }


    /// Redelivers shared-subscription deliveries a departed member never acknowledged to other members.
    func redistributeShared(_ deliveries: [Delivery], from departed: SessionHandle, via context: LoopContext, now: NIODeadline) {
        for delivery in deliveries {
            guard let filter = delivery.sharedFilter else { continue }
            let choice: SubscriptionEntry<SessionHandle>? = subscriptionsLock.withReadLock {
                let groupName = filter.dropFirst("$share/".count).dropLast()
                let match = context.matchCache.match(delivery.message.topic, in: tree)
                guard let group = match.groups.first(where: { $0.name == groupName }) else { return nil }
                return sharedGroupLock.withLock { group.next(where: { $0 !== departed && $0.isOnline }) }
            }
            let departedIsLive = departed.lock.withLock { departed.isLive }
            if let choice, choice.subscriber !== departed, choice.subscriber.isOnline || !departedIsLive {
                var message = delivery.message
                if departed.isPeer || choice.subscriber.isPeer {
                    // Marked for the departed node's group member (the next choice marks it again if it is a
                    // node too), or going to a node: only this node's own marks travel.
                    PeerSession.removeMarks(from: &message.properties)
                }
                // Granted QoS, identifier and Retain As Published are the new member's.
                let rebuilt = Delivery(
                    message: message,
                    qos: min(delivery.message.qos, choice.options.qos),
                    retain: choice.options.retainAsPublished ? delivery.message.retain : false,
                    subscriptionIdentifiers: choice.identifier.map { [$0] } ?? [],
                    sharedFilter: filter
                )
                offer(rebuilt, to: choice.subscriber, via: context, now: now, redistributing: true)
            } else if departedIsLive {
                // No other member online: it waits in the departed member's session.
                offer(delivery, to: departed, via: context, now: now, redistributing: true)
            } else {
                recordDrop(.noSubscriber, clientIdentifier: departed.clientIdentifier, now: now)
            }
        }
    }
}
