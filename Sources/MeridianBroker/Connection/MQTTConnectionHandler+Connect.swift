import MeridianBrokerCore
import MeridianMQTT
import MeridianSecurity
import NIOCore

extension MQTTConnectionHandler {
    func handleConnect(_ connect: MQTTConnect) {
        connectTimeout?.cancel()
        connectTimeout = nil
        let settings = broker.settings
        let result = ConnectNegotiation.negotiate(
            connect, settings: settings, inProcess: inProcessClient != nil, assignIdentifier: broker.makeAssignedIdentifier)
        guard case .accept(let negotiation) = result, !broker.isShuttingDown else {
            var reason = MQTTReasonCode.serverUnavailable
            var label = ConnectionRefusal.shuttingDown
            if case .refuse(let code) = result {
                reason = code
                label = ConnectionRefusal.label(for: code)
            }
            broker.recordRefusal(label)
            logger.notice("connection refused", metadata: ["client_id": "\(connect.clientIdentifier)", "reason": "\(label)"])
            refuseConnect(reason)
            return
        }
        var username = connect.username
        if inProcessClient == nil {
            let policy = broker.securityPolicy
            guard let credential = authenticate(connect, policy: policy) else { return }
            // The username the ACL (%u) and session ownership use: a certificate's name replaces
            // the CONNECT username on certificate identity listeners.
            username = credential.username
            self.credential = credential
            // A will is a publish made at connect time: the ACL must let the client write its topic
            // (mosquitto refuses the connection otherwise).
            if let will = connect.will, let acl = policy.acl,
                !ClientAccess(acl: acl, username: username, clientIdentifier: negotiation.clientIdentifier)
                    .allows(.write, topic: will.topic)
            {
                loopContext.counters.publishDenied += 1
                logger.notice("will topic not allowed by the ACL, connection refused", metadata: [
                    "client_id": "\(negotiation.clientIdentifier)", "topic": "\(will.topic)",
                    "address": "\(remoteAddressDescription)",
                ])
                return refuseConnect(version == .v5 ? .notAuthorized : .v3NotAuthorized)
            }
            if settings.maxPublishRate > 0 {
                publishLimiter = TokenBucket(rate: settings.maxPublishRate, now: loopContext.now)
            }
        }
        clientIdentifier = negotiation.clientIdentifier
        will = connect.will
        // A bridge says so with try_private (3.1.x) or, over MQTT 5, with Meridian's CONNECT user property.
        isBridge = version < .v5 ? connect.isBridge : connect.properties.userProperties.contains { $0.0 == MeshTrace.bridgeConnectKey }
        if version == .v5 {
            inboundAliases = InboundTopicAliases(maximum: settings.maxTopicAlias)
            outboundAliases = OutboundTopicAliases(maximum: negotiation.clientTopicAliasMaximum)
        }
        // The admission seam (a region node asks its cluster); the client's further packets wait in
        // the receive buffer, and reading stops, until the answer is in.
        let request = AdmissionRequest(
            clientIdentifier: negotiation.clientIdentifier, username: username, cleanStart: connect.cleanStart,
            protocolVersion: version, inProcess: inProcessClient != nil)
        machine.admitting()
        setReading(false)
        let loop = loopContext.eventLoop
        // The edge answers at once, inside this call: then the read loop goes on with the packets
        // after CONNECT itself, and flushing waits for the end of the read batch as usual.
        var answeredInline = true
        defer { answeredInline = false }
        broker.admission.admit(request, on: loop).hop(to: loop).whenComplete { [self] result in
            guard phase == .admitting else { return }  // closed meanwhile
            switch result {
            case .success(.admit):
                attachSession(connect, negotiation: negotiation, username: username)
            case .success(.refuse(let reason)):
                logger.notice("connection refused by admission", metadata: ["reason": "\(reason.rawValue)"])
                broker.recordRefusal(ConnectionRefusal.label(for: reason))
                refuseConnect(reason)
            case .success(.redirect(let reason, let serverReference)):
                logger.notice("connection redirected", metadata: ["reason": "\(reason.rawValue)", "server": "\(serverReference)"])
                broker.recordRefusal(ConnectionRefusal.label(for: reason))
                refuseConnect(reason, serverReference: serverReference)
            case .failure(let error):
                logger.warning("admission failed, connection refused: \(error)")
                broker.recordRefusal(ConnectionRefusal.label(for: .serverUnavailable))
                refuseConnect(.serverUnavailable)
            }
            guard phase == .connected else { return loopContext.flush() }
            setReading(true)
            if !answeredInline {
                processBufferedInput()
                loopContext.flush()
            }
        }
    }

    /// Attaches the admitted client to its session and answers CONNACK: the second half of CONNECT.
    private func attachSession(_ connect: MQTTConnect, negotiation: ConnectNegotiation, username: String?) {
        let settings = broker.settings
        var expiry = negotiation.sessionExpiryInterval
        if expiry == UInt32.max, let cap = settings.persistentClientExpiration { expiry = cap }

        let now = loopContext.now
        let version = self.version
        let sessionLimits = inProcessClient?.sessionLimits
        let attached = broker.attach(
            self, clientIdentifier: negotiation.clientIdentifier, cleanStart: connect.cleanStart, expiryInterval: expiry,
            version: version, isBridge: isBridge, identity: sessionLimits != nil ? .trusted : .client(username: username)
        ) { [sessionLimits] flow in
            if let sessionLimits { flow.limits = sessionLimits }
            flow.protocolVersion = version
            flow.clientReceiveMaximum = negotiation.clientReceiveMaximum
            flow.clientMaximumPacketSize = negotiation.clientMaximumPacketSize
        }
        guard let attachment = attached else {
            // Another user's session: refused, and its owner (connected or not) keeps it (I8).
            loopContext.counters.authFailures += 1
            broker.recordRefusal(ConnectionRefusal.sessionOwnedByOtherUser)
            logger.notice("client id belongs to another user's session, connection refused", metadata: [
                "client_id": "\(negotiation.clientIdentifier)", "username": "\(username ?? "")",
                "address": "\(remoteAddressDescription)",
            ])
            return refuseConnect(version == .v5 ? .notAuthorized : .v3NotAuthorized)
        }
        session = attachment.handle
        access = attachment.access
        let firstKeepAliveCheck = machine.accepted(keepAlive: negotiation.keepAlive, now: now)
        if let previous = attachment.previous {
            previous.loopContext.eventLoop.execute { previous.sessionTakenOver() }
        }

        var connackProperties = MQTTProperties()
        if version == .v5 {
            // Announce the session expiry in force when persistent_client_expiration shortened it.
            let cap: UInt32? = expiry != negotiation.sessionExpiryInterval ? expiry : nil
            connackProperties = negotiation.connackProperties(settings: settings, sessionExpiryCap: cap)
        }
        write(.connack(MQTTConnack(sessionPresent: attachment.sessionPresent, reasonCode: .success, properties: connackProperties)))

        let handle = attachment.handle
        var withheld = 0
        let resend = handle.lock.withLock { () -> [MQTTPacket] in
            let packets = handle.flow.resend(now: now, mayRead: handle.mayRead) { _ in withheld += 1 }
            handle.persistFlowEffects()
            return packets
        }
        for packet in resend {
            if case .publish(let publish) = packet { deliver(publish) } else { write(packet) }
        }
        for _ in 0..<withheld { broker.recordDrop(.notAuthorized, clientIdentifier: handle.clientIdentifier, now: now) }
        sendQueued(handle, now: now)
        if broker.settings.connectionMessages {
            logger.info("client connected", metadata: [
                "version": "\(version.rawValue)", "clean_start": "\(connect.cleanStart)",
                "keepalive": "\(negotiation.keepAlive)", "session_present": "\(attachment.sessionPresent)",
                "remote": "\(remoteAddressDescription)",
            ])
        }
        // The client must send something within 1.5 times its keep-alive (3.1.2.10), checked on
        // the loop's shared keep-alive timer.
        if let firstKeepAliveCheck { loopContext.keepAliveTimers.watch(self, checkAt: firstKeepAliveCheck) }
    }

    /// Refuses the CONNECT with `reason` (``ConnectionMachine/refused(_:serverReference:)``).
    func refuseConnect(_ reason: MQTTReasonCode, serverReference: String? = nil) {
        carryOut(machine.refused(reason, serverReference: serverReference))
    }

    func checkKeepAlive(now: NIODeadline) -> NIODeadline? {
        switch machine.checkKeepAlive(now: now) {
        case .unwatched:
            return nil
        case .checkAgain(let next):
            return next
        case .expired(let action):
            logger.notice("keep-alive timeout, closing")
            carryOut(action)
            loopContext.flush()
            return nil
        }
    }
}
