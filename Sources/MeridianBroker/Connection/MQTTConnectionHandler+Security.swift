import MeridianBrokerCore
import MeridianMQTT
import MeridianSecurity
import NIOCore

/// Authentication at CONNECT, its re-check on reload, the ACL's publish checks and the publish rate limit.
extension MQTTConnectionHandler {
    /// The listener's side of the authentication decision under `policy`.
    func authenticationListener(_ policy: SecurityPolicy) -> Authentication.Listener {
        policy.authenticationListener(requireCertificate: listenerRequiresCertificate, certificateUsername: certificateUsernameSource)
    }

    /// Runs the one authentication decision (``Authentication/decide(_:_:)``) on what the client
    /// presented. On a refusal, counts it, logs it (rate-limited, with the client's address) and
    /// answers the CONNACK; returns nil then.
    func authenticate(_ connect: MQTTConnect, policy: SecurityPolicy) -> Authentication.Credential? {
        let presented = Authentication.Presented(
            username: connect.username, password: connect.password.map { Array($0.readableBytesView) },
            hasCertificate: peerCertificate != nil, certificateName: peerCertificate?.username)
        switch Authentication.decide(authenticationListener(policy), presented) {
        case .accepted(let credential):
            if case .certificate(let name) = credential {
                logger.notice("certificate identity", metadata: ["username": "\(name)"])
            }
            return credential
        case .refused(let refusal):
            loopContext.counters.authFailures += 1
            if let suppressed = broker.authenticationFailureLogSlot(now: loopContext.now) {
                logger.notice(
                    "authentication failed",
                    metadata: [
                        "address": "\(remoteAddressDescription)", "client_id": "\(connect.clientIdentifier)",
                        "username": "\(connect.username ?? "")", "reason": "\(refusal.rawValue)",
                        "suppressed_since_last": "\(suppressed)",
                    ])
            }
            refuseConnect(refusal.connackCode(for: connect.protocolVersion))
            return nil
        }
    }

    /// After a reload: the new ACL's decisions for this client, and a re-check of its credential.
    func securityChanged(access: CachedClientAccess?, policy: SecurityPolicy) {
        self.access = access
        recheckCredential(under: policy)
    }

    /// Closes the connection when its credential would no longer let it in (a password changed
    /// or removed, anonymous access withdrawn), as Mosquitto does.
    func recheckCredential(under policy: SecurityPolicy) {
        guard phase == .connected, let credential else { return }
        guard !Authentication.stillAdmitted(credential, under: authenticationListener(policy)) else { return }
        loopContext.counters.authFailures += 1
        logger.notice("credential no longer valid after reload, disconnecting", metadata: [
            "username": "\(credential.username ?? "")", "address": "\(remoteAddressDescription)",
        ])
        disconnect(reason: .notAuthorized, publishWill: true)
    }

    /// The client's address for logs, or "unknown".
    var remoteAddressDescription: String {
        guard case .channel(let context) = transport else { return transport == nil ? "unknown" : "in-process" }
        guard let address = context.channel.remoteAddress else { return "unknown" }
        if let ip = address.ipAddress, let port = address.port { return "\(ip):\(port)" }
        return "\(address)"
    }

    /// Whether the ACL lets this client publish to `topic` (always, without an ACL).
    func mayPublish(to topic: String) -> Bool {
        guard access != nil else { return true }
        return access?.allows(.write, topic: topic) ?? true
    }

    /// Takes a token from the publish rate limiter; false when the client is over `max_publish_rate`.
    func withinPublishRate() -> Bool {
        guard publishLimiter != nil else { return true }
        return publishLimiter?.take(now: loopContext.now) ?? true
    }

    /// Answers a PUBLISH that is not routed: MQTT 5 QoS 1/2 with `reason` in the PUBACK/PUBREC;
    /// MQTT 3.1.1 QoS 1/2 with a plain acknowledgement (3.1.1 has no way to say no, and the spec
    /// asks for the acknowledgement or a disconnect); QoS 0 with nothing.
    func refusePublish(_ publish: MQTTPublish, reason: MQTTReasonCode, what: String) {
        if !loggedPublishRefusal {
            loggedPublishRefusal = true
            logger.notice(
                "\(what): publish dropped (further ones are only counted)",
                metadata: [
                    "topic": "\(publish.topic)", "address": "\(remoteAddressDescription)",
                ])
        }
        guard let packetIdentifier = publish.packetIdentifier else { return }
        let code: MQTTReasonCode = version == .v5 ? reason : .success
        switch publish.qos {
        case .atMostOnce: break
        // Through acknowledge: it leaves after any acknowledgement still waiting for a commit (4.6).
        case .atLeastOnce: acknowledge(.puback(MQTTAck(packetIdentifier: packetIdentifier, reasonCode: code)), after: [])
        case .exactlyOnce: acknowledge(.pubrec(MQTTAck(packetIdentifier: packetIdentifier, reasonCode: code)), after: [])
        }
    }
}

extension UInt64 {
    fileprivate var clampedInt64: Int64 { Int64(clamping: self) }
}
