import MeridianSecurity

extension Broker {
    /// Puts a reloaded policy in force without disconnecting anyone.
    ///
    /// Every session's delivery decisions are rebuilt at once (under its lock, so the next message
    /// routed to it is judged by the new ACL); each connected client's publish and subscribe
    /// decisions are handed to it on its own event loop. Existing subscriptions stay: what the new
    /// ACL no longer lets a client read, it stops receiving. The password file and
    /// `allow_anonymous` apply from the next CONNECT.
    func applySecurity(_ policy: SecurityPolicy) {
        var updates: [(MQTTConnectionHandler, CachedClientAccess?)] = []
        lock.withLock {
            security = policy
            for handle in sessions.values {
                handle.lock.withLock {
                    let access = handle.identity.access(under: policy.acl, clientIdentifier: handle.clientIdentifier)
                    handle.access = access
                    if let connection = handle.connection { updates.append((connection, access)) }
                }
            }
        }
        for (connection, access) in updates {
            connection.loopContext.eventLoop.execute { connection.access = access }
        }
    }
}
