import MeridianBrokerCore
import MeridianMQTT
import NIOCore

extension MQTTConnectionHandler {
    func handlePublish(_ received: MQTTPublish) {
        var publish = received
        let counters = loopContext.counters
        counters.publishReceived += 1
        counters.publishesByQoS.countReceived(received.qos, bytes: received.payload.readableBytes)
        if version == .v5 {
            do { try inboundAliases.resolve(&publish) } catch { return protocolViolation(error) }
        }
        let settings = broker.settings
        let verdict = PublishCheck.check(
            publish, version: version, settings: settings, withinRate: withinPublishRate, mayPublish: mayPublish(to:))
        switch verdict {
        case .route:
            break
        case .disconnect(let reason):
            if reason == .topicNameInvalid { logger.notice("topic deeper than \(MQTTTopic.maximumLevels) levels, closing") }
            return disconnect(reason: reason, publishWill: true)
        case .dropOversized:
            logger.notice("payload of \(publish.payload.readableBytes) bytes over message_size_limit, dropped")
            switch publish.qos {
            case .atMostOnce: break
            case .atLeastOnce: acknowledge(.puback(MQTTAck(packetIdentifier: publish.packetIdentifier!, reasonCode: .packetTooLarge)), after: [])
            case .exactlyOnce: acknowledge(.pubrec(MQTTAck(packetIdentifier: publish.packetIdentifier!, reasonCode: .packetTooLarge)), after: [])
            }
            return
        case .refuse(let reason, let refusal):
            switch refusal {
            case .topicTooDeep:
                return refusePublish(publish, reason: reason, what: "topic deeper than \(MQTTTopic.maximumLevels) levels")
            case .overRate:
                counters.rateLimited += 1
                return refusePublish(publish, reason: reason, what: "over max_publish_rate")
            case .notAuthorized:
                counters.publishDenied += 1
                return refusePublish(publish, reason: reason, what: "topic not allowed by the ACL")
            }
        }
        let now = loopContext.now
        var received = BrokerMessage(publish: publish, origin: clientIdentifier, now: now)
        received.sequence = loopContext.nextMessageSequence()
        var message: BrokerMessage? = received
        if isBridge {
            message = broker.admitFromBridge(received)
            if message == nil { broker.recordDrop(.loop, clientIdentifier: clientIdentifier ?? "", now: now) }
        }
        // A message dropped as a loop is acknowledged like one delivered: the sender has nothing to resend.
        func route() -> Broker.RouteOutcome {
            guard let message else { return Broker.RouteOutcome(count: 1) }
            return broker.route(message, via: loopContext, now: now)
        }
        switch publish.qos {
        case .atMostOnce:
            let outcome = route()
            if !outcome.congested.isEmpty { pauseReading(on: outcome.congested) }
        case .atLeastOnce:
            let outcome = route()
            if !outcome.congested.isEmpty { pauseReading(on: outcome.congested) }
            let reason: MQTTReasonCode = outcome.count == 0 && version == .v5 ? .noMatchingSubscribers : .success
            if outcome.refused { return refuse(.puback(MQTTAck(packetIdentifier: publish.packetIdentifier!))) }
            acknowledge(.puback(MQTTAck(packetIdentifier: publish.packetIdentifier!, reasonCode: reason)), after: outcome.commits)
        case .exactlyOnce:
            guard let handle = session, let packetIdentifier = publish.packetIdentifier else { return }
            var commits: [EventLoopFuture<Void>] = []
            let arrival = handle.lock.withLock { () -> InboundFlow.Arrival in
                let arrival = handle.inbound.received(packetIdentifier)
                if arrival == .route, handle.isPersistent, let store = broker.store {
                    // Kept across a restart so a resend after it is not delivered twice.
                    commits.append(store.commit(
                        [.insertInboundQoS2(clientID: handle.clientIdentifier, packetID: packetIdentifier)], on: loopContext.eventLoop))
                }
                return arrival
            }
            if arrival == .overReceiveMaximum { return disconnect(reason: .receiveMaximumExceeded, publishWill: true) }
            var reason = MQTTReasonCode.success
            if arrival == .route {
                let outcome = route()
                if !outcome.congested.isEmpty { pauseReading(on: outcome.congested) }
                if outcome.count == 0 && version == .v5 { reason = .noMatchingSubscribers }
                commits += outcome.commits
                if outcome.refused {
                    handle.lock.withLock { handle.inbound.abandon(packetIdentifier) }
                    return refuse(.pubrec(MQTTAck(packetIdentifier: packetIdentifier)))
                }
            }
            acknowledge(.pubrec(MQTTAck(packetIdentifier: packetIdentifier, reasonCode: reason)), after: commits)
        }
    }

    /// No room for the message (a full queue with the refuse policy, or the store's disk at its
    /// free-space floor): MQTT 5 publishers get 0x97 Quota exceeded; 3.1.1 publishers get no
    /// acknowledgement (they resend later).
    private func refuse(_ ack: MQTTPacket) {
        loopContext.counters.storeRefusals += 1
        logger.notice("message refused: no room to queue or store it")
        guard version == .v5, let refused = ack.quotaExceeded else { return }
        acknowledge(refused, after: [])
    }

    /// Sends a PUBACK or PUBREC, after the store committed the message when it holds it (invariant I1).
    ///
    /// Acknowledgements leave in the order their PUBLISHes arrived (MQTT 5 section 4.6): once one
    /// waits for a commit, the following ones queue behind it. If the commit fails (disk full), an
    /// MQTT 5 client gets 0x97 Quota exceeded; a 3.1.1 client gets no acknowledgement and will resend.
    func acknowledge(_ ack: MQTTPacket, after commits: [EventLoopFuture<Void>]) {
        let afterCommit = !commits.isEmpty
        guard afterCommit || pendingAcknowledgement != nil else {
            write(ack)
            return
        }
        let ready: EventLoopFuture<Void>
        if commits.count == 1 {
            ready = commits[0]
        } else if afterCommit {
            ready = EventLoopFuture.andAllSucceed(commits, on: loopContext.eventLoop)
        } else {
            ready = pendingAcknowledgement!
        }
        pendingAcknowledgement = ready
        ready.whenComplete { [self] result in
            if afterCommit, case .failure(let error) = result {
                loopContext.counters.storeRefusals += 1
                logger.warning("message not stored, not acknowledged: \(error)")
                if version == .v5, let refused = ack.quotaExceeded {
                    if case .pubrec(let pubrec) = ack, let handle = session {
                        // A failing PUBREC ends the exchange: the identifier is free again.
                        handle.lock.withLock { handle.inbound.abandon(pubrec.packetIdentifier) }
                    }
                    write(refused)
                }
            } else {
                write(ack)
            }
            flushIfNeeded()
            if pendingAcknowledgement === ready { pendingAcknowledgement = nil }
        }
    }

    func handlePubrel(_ ack: MQTTAck) {
        guard let handle = session else { return }
        let known = handle.lock.withLock { () -> Bool in
            let known = handle.inbound.released(ack.packetIdentifier)
            if known && handle.isPersistent {
                broker.store?.enqueue([.deleteInboundQoS2(clientID: handle.clientIdentifier, packetID: ack.packetIdentifier)])
            }
            return known
        }
        let reason: MQTTReasonCode = known || version != .v5 ? .success : .packetIdentifierNotFound
        write(.pubcomp(MQTTAck(packetIdentifier: ack.packetIdentifier, reasonCode: reason)))
    }

    func handlePuback(_ ack: MQTTAck) {
        acknowledged { $0.acknowledge(puback: ack.packetIdentifier) }
    }

    func handlePubrec(_ ack: MQTTAck) {
        var sendPubrel = false
        acknowledged { flow in
            sendPubrel = flow.acknowledge(pubrec: ack.packetIdentifier, reasonCode: ack.reasonCode)
            return !sendPubrel
        }
        if sendPubrel {
            write(.pubrel(MQTTAck(packetIdentifier: ack.packetIdentifier)))
        } else if !ack.reasonCode.isFailure && version == .v5 {
            write(.pubrel(MQTTAck(packetIdentifier: ack.packetIdentifier, reasonCode: .packetIdentifierNotFound)))
        }
    }

    func handlePubcomp(_ ack: MQTTAck) {
        acknowledged { $0.acknowledge(pubcomp: ack.packetIdentifier) }
    }

    /// Sends what the session queued while this connection's loop was busy elsewhere.
    func drainSession() {
        guard let handle = session else { return }
        handle.lock.withLock { handle.drainScheduled = false }
        sendQueued(handle, now: loopContext.now)
    }

    /// Applies an acknowledgement to the session's flow and, when it freed a slot, sends queued messages.
    private func acknowledged(_ apply: (inout OutboundFlow) -> Bool) {
        guard let handle = session else { return }
        let freed = handle.lock.withLock { () -> Bool in
            let freed = apply(&handle.flow)
            handle.persistFlowEffects()
            return freed
        }
        if freed { sendQueued(handle, now: loopContext.now) }
    }

    /// Moves queued messages into free in-flight slots and writes them, if this connection still
    /// owns the session (after a takeover the new connection drains them), and wakes publishers
    /// paused by backpressure once the queue is low enough.
    func sendQueued(_ handle: SessionHandle, now: NIODeadline) {
        var dropped: [DropReason] = []
        var waiters: [any PausedPublisher] = []
        let next = handle.lock.withLock { () -> [MQTTPublish] in
            guard handle.target === self else { return [] }
            defer { waiters = handle.takeWaitersIfDrained() }
            guard handle.flow.queuedCount > 0 else { return [] }
            let next = handle.flow.drain(now: now, mayRead: handle.mayRead) { reason in dropped.append(reason) }
            handle.persistFlowEffects()
            return next
        }
        SessionHandle.wake(waiters, from: handle)
        for publish in next { deliver(publish) }
        for reason in dropped { broker.recordDrop(reason, clientIdentifier: handle.clientIdentifier, now: now) }
    }

    // MARK: - Backpressure

    /// Stops reading from this publisher until every congested session has drained
    /// (`queue_full_policy backpressure`). Packets already read are still processed.
    func pauseReading(on sessions: [SessionHandle]) {
        for handle in sessions where !pausedOn.contains(ObjectIdentifier(handle)) {
            let registered = handle.lock.withLock { () -> Bool in
                guard handle.target != nil, !handle.flow.hasDrainedBelowLowWater else { return false }
                handle.waiters.append(self)
                return true
            }
            if registered { pausedOn.insert(ObjectIdentifier(handle)) }
        }
        if !pausedOn.isEmpty { setReading(false) }
    }

    /// A session this publisher waited on has drained (or its client left).
    func backpressureReleased(by handle: SessionHandle) {
        guard pausedOn.remove(ObjectIdentifier(handle)) != nil, pausedOn.isEmpty else { return }
        setReading(true)
    }
}

private extension MQTTPacket {
    /// This PUBACK or PUBREC with reason 0x97 Quota exceeded; nil for other packets.
    var quotaExceeded: MQTTPacket? {
        switch self {
        case .puback(var ack):
            ack.reasonCode = .quotaExceeded
            return .puback(ack)
        case .pubrec(var ack):
            ack.reasonCode = .quotaExceeded
            return .pubrec(ack)
        default:
            return nil
        }
    }
}
