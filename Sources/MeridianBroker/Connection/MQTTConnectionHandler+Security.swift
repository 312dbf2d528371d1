import MeridianBrokerCore
import MeridianMQTT
import MeridianSecurity
import NIOCore

/// Authentication at CONNECT, the ACL's publish checks and the publish rate limit.
extension MQTTConnectionHandler {
    /// The username that authentication and the ACL (`%u`) use for this connection: the one place
    /// that decides it. On a TLS listener with `use_identity_as_username` / `use_subject_as_username`,
    /// `applyCertificateIdentity(to:)` has already put the certificate's name in `connect.username`.
    func connectUsername(_ connect: MQTTConnect) -> String? {
        connect.username
    }

    /// Checks the username and password against the policy in force; on failure, logs it with the
    /// client's address, counts it and returns the CONNACK code to refuse with.
    ///
    /// Codes: no username without `allow_anonymous` is 0x87 Not authorized; an unknown user or a
    /// wrong password is 0x86 Bad user name or password for MQTT 5. MQTT 3.1.1 clients get 5 Not
    /// authorized for both, as mosquitto answers.
    ///
    /// A client whose username came from its verified certificate is not checked against the
    /// password file: the certificate is its credential (mosquitto's rule).
    func authenticationRefusal(_ connect: MQTTConnect, username: String?, policy: SecurityPolicy) -> MQTTReasonCode? {
        let password = connect.password.map { Array($0.readableBytesView) }
        let outcome = Authentication.check(
            username: username, password: password, allowAnonymous: policy.allowAnonymous,
            passwords: isCertificateAuthenticated ? nil : policy.passwords
        )
        guard case .refused(let failure) = outcome else { return nil }
        loopContext.counters.authFailures += 1
        logger.notice(
            "authentication failed",
            metadata: [
                "address": "\(remoteAddressDescription)", "client_id": "\(connect.clientIdentifier)",
                "username": "\(username ?? "")", "reason": "\(failure.rawValue)",
            ])
        let isV5 = connect.protocolVersion == .v5
        switch failure {
        case .anonymous: return isV5 ? .notAuthorized : .v3NotAuthorized
        case .unknownUser, .badPassword: return isV5 ? .badUserNameOrPassword : .v3NotAuthorized
        }
    }

    /// The client's address for logs, or "unknown".
    var remoteAddressDescription: String {
        guard let address = context?.channel.remoteAddress else { return "unknown" }
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
        return publishLimiter?.admit(now: loopContext.eventLoop.now.uptimeNanoseconds.clampedInt64) ?? true
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
