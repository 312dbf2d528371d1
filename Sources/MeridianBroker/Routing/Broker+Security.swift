import MeridianMQTT
import MeridianSecurity
import NIOCore

extension Broker {
    /// Puts a reloaded policy in force.
    ///
    /// Every session's delivery decisions are rebuilt at once (under its lock, so the next message
    /// routed to it is judged by the new ACL); each connected client's publish and subscribe
    /// decisions are handed to it on its own event loop, where its credential is checked again:
    /// a client whose password was changed or removed, or an anonymous client once
    /// `allow_anonymous` is false, is disconnected. Existing subscriptions stay: what the new ACL
    /// no longer lets a client read, it stops receiving.
    func applySecurity(_ policy: SecurityPolicy) {
        var updates: [(any DeliveryTarget, CachedClientAccess?)] = []
        lock.withLock {
            security = policy
            for handle in sessions.values {
                handle.lock.withLock {
                    let access = handle.identity.access(under: policy.acl, clientIdentifier: handle.clientIdentifier)
                    handle.access = access
                    if let target = handle.target { updates.append((target, access)) }
                }
            }
        }
        for (target, access) in updates {
            target.loopContext.eventLoop.execute {
                target.securityChanged(access: access, policy: policy)
                target.loopContext.flush()
            }
        }
    }

    /// Closes every client connection with `reason` and a Server Reference (MQTT 5), each on its
    /// own loop: a region node that fenced itself sends its clients to the nodes still serving.
    func sendClientsElsewhere(reason: MQTTReasonCode, serverReference: String?) {
        let targets = lock.withLock { sessions.values.compactMap { handle in handle.lock.withLock { handle.target } } }
        for target in targets {
            target.loopContext.eventLoop.execute {
                target.sendElsewhere(reason: reason, serverReference: serverReference)
                target.loopContext.flush()
            }
        }
    }

    /// Whether an authentication failure may be logged now: at most one line a second, so that
    /// a password-guessing client cannot flood the log (every failure is counted all the same).
    /// - Returns: the failures not logged since the last line, or nil when this one is not logged.
    func authenticationFailureLogSlot(now: NIODeadline) -> Int? {
        lock.withLock {
            if let last = lastAuthenticationFailureLog, now - last < .seconds(1) {
                authenticationFailuresNotLogged += 1
                return nil
            }
            lastAuthenticationFailureLog = now
            defer { authenticationFailuresNotLogged = 0 }
            return authenticationFailuresNotLogged
        }
    }
}
