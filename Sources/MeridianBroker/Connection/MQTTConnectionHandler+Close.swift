import MeridianBrokerCore
import MeridianMQTT
import MeridianStore
import NIOCore

extension MQTTConnectionHandler {
    /// Answers a malformed packet or protocol violation as the specification says, then closes
    /// (``ConnectionMachine/violation(_:announcedVersion:)``).
    func protocolViolation(_ error: Error) {
        let codecError = error as? MQTTCodecError ?? MQTTCodecError(.malformedPacket, "\(error)")
        logger.notice("protocol violation, closing: \(codecError)")
        carryOut(machine.violation(codecError, announcedVersion: reader.parser.protocolVersion))
    }

    /// Server-initiated disconnect: MQTT 5 clients get DISCONNECT with `reason` first.
    func disconnect(reason: MQTTReasonCode, publishWill: Bool) {
        carryOut(machine.disconnect(reason: reason, publishWill: publishWill))
    }

    func sendElsewhere(reason: MQTTReasonCode, serverReference: String?) {
        guard inProcessClient == nil else { return }  // the node's own bridges stay
        logger.notice("node not serving: client sent elsewhere", metadata: ["server_reference": "\(serverReference ?? "")"])
        carryOut(machine.redirect(reason: reason, serverReference: serverReference))
    }

    /// The client sent DISCONNECT.
    func handleDisconnect(_ disconnect: MQTTDisconnect) {
        if version == .v5, let expiry = disconnect.properties.sessionExpiryInterval, let handle = session {
            let wasZero = handle.lock.withLock { handle.expiryInterval == 0 }
            if wasZero && expiry > 0 {
                return protocolViolation(MQTTCodecError(.protocolError, "session expiry set on DISCONNECT after 0 at CONNECT", packetType: .disconnect))
            }
            let cap = broker.settings.persistentClientExpiration
            let effective = expiry == UInt32.max ? (cap ?? expiry) : expiry
            let identity = handle.lock.withLock { () -> SessionIdentity in
                handle.expiryInterval = effective
                return handle.identity
            }
            if effective > 0 {
                broker.store?.enqueue([.upsertSession(StoredSession(
                    clientID: handle.clientIdentifier, expiryInterval: effective, protocolVersion: version,
                    identity: identity.stored))])
            }
        }
        carryOut(machine.clientDisconnected(disconnect))
    }

    /// Another connection took this session over (3.1.4): tell MQTT 5 clients why, then close.
    func sessionTakenOver() {
        let willCancelled = session.map { handle in
            SessionEnd.takeoverCancelsWill(
                willDelay: will?.properties.willDelayInterval ?? 0, sessionStillLive: handle.lock.withLock { handle.isLive })
        } ?? false
        carryOut(machine.takeOver(willCancelled: willCancelled))
    }

    /// The channel closed, for whatever reason: publish or schedule the will, detach the session.
    func connectionClosed() {
        connectTimeout?.cancel()
        if machine.keepAlive != nil { loopContext.keepAliveTimers.unwatch(self) }
        let wasConnected = clientIdentifier != nil && session != nil
        machine.closed()
        transport = nil
        guard wasConnected, let handle = session else { return }
        session = nil
        let now = loopContext.now
        let shuttingDown = broker.isShuttingDown
        let detached = broker.detach(self, from: handle)
        if !detached.unacknowledgedShared.isEmpty {
            broker.redistributeShared(detached.unacknowledgedShared, from: handle, via: loopContext, now: now)
        }
        if broker.settings.connectionMessages {
            logger.info("client disconnected", metadata: ["taken_over": "\(machine.takenOver)"])
        }
        let decision = SessionEnd.decide(SessionEnd.Facts(
            willDue: will != nil && !machine.willSuppressed, willDelay: will?.properties.willDelayInterval ?? 0,
            shuttingDown: shuttingDown, takenOver: machine.takenOver, wasAttached: detached.wasAttached,
            sessionEnded: detached.ended, sessionExpiry: detached.expiry))
        if let will { carryOut(decision.will, will: will, handle: handle, generation: detached.generation, now: now) }
        if let expiry = decision.expireAfter {
            broker.scheduleExpiry(of: handle, generation: detached.generation, after: .seconds(Int64(expiry)), on: loopContext.eventLoop)
        }
        loopContext.flush()
    }

    /// Publishes the will now, or keeps it in the store and arms its timer.
    private func carryOut(_ decision: SessionEnd.Will, will: MQTTWill, handle: SessionHandle, generation: UInt64, now: NIODeadline) {
        // Will properties become the message's properties, except Will Delay Interval, which is not a PUBLISH property.
        var properties = will.properties
        properties.remove(.willDelayInterval)
        let publish = MQTTPublish(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: properties)
        let origin = handle.clientIdentifier
        switch decision {
        case .none:
            return
        case .publishNow:
            broker.route(BrokerMessage(publish: publish, origin: origin, now: now), via: loopContext, now: now)
        case .publishAfter(let wait):
            // Published when due unless the client reconnects; its Message Expiry counts from then.
            broker.store?.enqueue([.putWill(
                clientID: origin, StoredMessage(BrokerMessage(publish: publish, origin: origin, now: now), now: now, wallNow: unixTime()),
                dueAt: unixTime() + Int64(wait))])  // rounded up: never early after a restart
            broker.scheduleWill(publish, of: handle, generation: generation, after: .seconds(Int64(wait)), via: loopContext)
        }
    }
}
