import MeridianBrokerCore
import MeridianMQTT
import NIOCore

/// A persistent session moving to another node of a cluster without losing what is on its way to
/// it. When the session's state leaves for the new node, other nodes still route to this one
/// until the new node's routes reach them (and their messages already on a link still arrive
/// here). So the session stays in the tree for ``movedSessionGrace``, keeping this node's routes,
/// and forwards each QoS 1/2 delivery to the new node after the state (this node's session of that
/// node keeps the order, and stores them first); the new node delivers them to the session only,
/// once each, by the identities it remembers for a session that moved in. The rules are
/// ``SessionMove``'s; this carries them out.
extension Broker {
    /// How long a moved session keeps forwarding (and this node keeps its routes).
    static let movedSessionGrace = TimeAmount.seconds(3)
    /// How many message identities a session that moved in remembers, to deliver a second copy of none.
    static let movedSessionIdentities = 16_384

    /// Another node takes the client id over for `newcomer` (a region node's shard owner said so):
    /// the session ends here, and a connection still using it is taken over (MQTT 5: DISCONNECT
    /// 0x8E) — unless it belongs to another user (I8), as on one node. With `movingTo`, a persistent
    /// session's subscriptions and what it still owes its client go to that node, as the message
    /// `transfer` makes of them, through this node's session of it; then the session forwards there
    /// for a while (see above). Call on `context`'s loop.
    /// - Returns: how it ended, and whether the state went to `movingTo`.
    func endSession(
        clientIdentifier: String, for newcomer: SessionIdentity, movingTo peer: String?,
        transfer: (TakenSession) -> BrokerMessage, via context: LoopContext
    ) -> (SessionEnding, moved: Bool) {
        let ended = lock.withLock { () -> (SessionEnding, (any DeliveryTarget)?, TakenSession?, SessionHandle?) in
            guard let existing = sessions[clientIdentifier] else { return (.none, nil, nil, nil) }
            let (owner, target) = existing.lock.withLock { (existing.identity, existing.target) }
            guard owner.admits(newcomer, allowCrossUser: settings.allowCrossUserTakeover) else { return (.ownedByAnotherUser, nil, nil, nil) }
            let peerHandle = peer.flatMap { sessions[PeerSession.clientIdentifier(for: $0)] }
            let taken = peerHandle == nil ? nil : existing.lock.withLock { () -> TakenSession? in
                guard existing.isPersistent, let peer else { return nil }
                var username: String?
                if case .client(let name) = existing.identity { username = name }
                // From now on deliveries are held, to go after the state.
                existing.departed = SessionMove.Departed(to: peer)
                var owed = existing.flow.takeAll()
                // With their identities: the new node must not deliver a copy that also comes another way.
                for index in owed.inflight.indices { owed.inflight[index].delivery.message.peerIdentity = identity(of: owed.inflight[index].delivery.message) }
                for index in owed.queued.indices { owed.queued[index].message.peerIdentity = identity(of: owed.queued[index].message) }
                return TakenSession(
                    clientIdentifier: clientIdentifier, expiryInterval: existing.expiryInterval,
                    protocolVersion: existing.flow.protocolVersion, username: username,
                    subscriptions: existing.subscriptions.sorted { $0.key < $1.key }.map {
                        .init(filter: $0.key, options: $0.value.options, identifier: $0.value.identifier)
                    },
                    inflight: owed.inflight, deliveries: owed.queued)
            }
            if let peer, peerHandle == nil, existing.lock.withLock({ existing.isPersistent }) {
                logger.error("no session of the peer for a moving session: its state is lost", metadata: [
                    "client_id": "\(clientIdentifier)", "node": "\(peer)",
                ])
            }
            removeSessionLocked(existing, keepingPlainSubscriptions: taken != nil, deletingRows: taken == nil)
            if taken != nil {
                endMovedSessionLocked(clientIdentifier)
                movedSessions[clientIdentifier] = existing
            }
            return (.ended, target, taken, peerHandle)
        }
        if let target = ended.1 { target.loopContext.eventLoop.execute { target.sessionTakenOver() } }
        guard let taken = ended.2, let peerHandle = ended.3, let peer, let moved = lock.withLock({ movedSessions[clientIdentifier] }) else {
            return (ended.0, false)
        }
        let now = context.now
        // Stored before the session's rows go: a crash in between leaves a copy here, never none.
        offer(Delivery(message: transfer(taken), qos: .atLeastOnce, retain: false), to: peerHandle, via: context, now: now)
        store?.enqueue([.deleteSession(clientID: clientIdentifier)])
        // What came meanwhile, in order; a delivery that comes during this loop joins the held ones.
        while true {
            let held = moved.lock.withLock { moved.departed?.handedOver() ?? [] }
            if held.isEmpty { break }
            for delivery in held { forwardForMovedSession(delivery, of: moved, to: peer, via: context, now: now) }
        }
        context.flush()
        context.eventLoop.scheduleTask(in: Self.movedSessionGrace) { [self] in
            lock.withLock {
                if movedSessions[clientIdentifier] === moved { endMovedSessionLocked(clientIdentifier) }
            }
        }
        return (ended.0, true)
    }

    /// Ends the forwarding of a session that moved away: its subscriptions leave the tree (and its
    /// routes the cluster, if no other session here has them). Call under `lock`.
    func endMovedSessionLocked(_ clientIdentifier: String) {
        guard let moved = movedSessions.removeValue(forKey: clientIdentifier) else { return }
        let filters = moved.lock.withLock { Array(moved.subscriptions.keys) }
        subscriptionsLock.withWriteLock {
            for filter in filters where tree.unsubscribe(moved, filter: filter) { cluster?.localSubscriptionRemoved(filter) }
        }
    }

    /// A QoS 1/2 delivery that came for a session after it moved to `peer` (``SessionMove/Departed``):
    /// to that node, marked for the session and with the message's identity.
    @discardableResult
    func forwardForMovedSession(_ delivery: Delivery, of moved: SessionHandle, to peer: String, via context: LoopContext, now: NIODeadline) -> OfferOutcome {
        guard let peerHandle = lock.withLock({ sessions[PeerSession.clientIdentifier(for: peer)] }) else { return OfferOutcome() }
        var message = delivery.message
        PeerSession.removeMarks(from: &message.properties)
        message.properties.append(.userProperty(PeerSession.movedSessionKey, moved.clientIdentifier))
        message.properties.append(.userProperty(PeerSession.identityKey, identity(of: message)))
        message.retain = delivery.retain
        return offer(Delivery(message: message, qos: delivery.qos, retain: delivery.retain), to: peerHandle, via: context, now: now)
    }

    /// The identity of a message between nodes: the one its first node gave it, or this node's.
    func identity(of message: BrokerMessage) -> String {
        message.peerIdentity ?? MeshTrace.identity(node: nodeName, sequence: message.sequence)
    }

    /// Whether a delivery to a session that moved here is a second copy (one came directly, one
    /// through its old node); remembers it otherwise. Call with the session's lock held.
    func isSecondCopy(_ delivery: Delivery, to handle: SessionHandle, now: NIODeadline) -> Bool {
        guard handle.arrived != nil else { return false }
        if handle.arrived!.isOver(at: now) {
            handle.arrived = nil
            return false
        }
        return handle.arrived!.isSecondCopy(identity: identity(of: delivery.message), qos: delivery.qos)
    }

    /// A message another node forwarded for a session that moved from it to this one: delivered to
    /// that session only, by its subscriptions that match (highest QoS, every identifier), not kept
    /// as retained. Nothing when the session is not here (it moved on, or ended).
    func routeForMovedSession(_ message: BrokerMessage, clientIdentifier: String, via context: LoopContext, now: NIODeadline) -> RouteOutcome {
        var outcome = RouteOutcome()
        guard let handle = lock.withLock({ sessions[clientIdentifier] }) else { return outcome }
        let entries = subscriptionsLock.withReadLock {
            context.matchCache.match(message.topic, in: tree).entries.filter { $0.subscriber === handle }
        }
        guard !entries.isEmpty else { return outcome }
        outcome.count = 1
        var numbered = message
        if numbered.sequence == 0 { numbered.sequence = context.nextMessageSequence() }
        deliverOncePerSession(numbered, entries.map { ($0, nil) }, via: context, now: now, outcome: &outcome)
        return outcome
    }
}
