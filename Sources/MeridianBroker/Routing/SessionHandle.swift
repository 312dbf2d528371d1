import MeridianBrokerCore
import MeridianMQTT
import MeridianSecurity
import NIOConcurrencyHelpers
import NIOCore

/// A client session, shared across event loops: the pure session state behind a lock, and
/// the target its messages go to while its client is attached (nil while it is offline).
///
/// Lock order: the broker's lock may be held while taking a session's lock, never the reverse.
final class SessionHandle: Hashable, @unchecked Sendable {
    struct Subscription {
        var options: MQTTSubscriptionOptions
        var identifier: UInt32?
    }

    let clientIdentifier: String
    let lock = NIOLock()
    /// Where QoS 1/2 deliveries of persistent sessions are kept; nil without persistence.
    let store: DurableStore?

    // Guarded by `lock`.
    var flow: OutboundFlow
    var subscriptions: [String: Subscription] = [:]
    /// QoS 2 messages received (PUBREC sent) and not yet released by PUBREL.
    var inbound: InboundFlow
    /// Seconds the session outlives its connection; UInt32.max = forever.
    var expiryInterval: UInt32 = 0
    /// The connection (or in-process client) the session is attached to; nil while offline.
    var target: (any DeliveryTarget)?
    /// Incremented on every connect, so timers armed for an earlier connection can tell they are stale.
    var generation: UInt64 = 0
    /// The timer that ends the session when it stays offline past its expiry.
    var expiryTimer: Scheduled<Void>?
    /// Publishers paused by backpressure until this session's queue drains (guarded by `lock`).
    var waiters: [any PausedPublisher] = []
    /// True while a drain of the queue is scheduled on the connection's event loop.
    var drainScheduled = false
    /// False once the session has ended and was removed from the broker.
    var isLive = true
    /// Whose rights the session has (set at each connect), for ACL reloads.
    var identity = SessionIdentity.unknown
    /// Delivery decisions under the ACL; nil without an ACL (or for trusted clients), which keeps
    /// the routing path free of any check.
    var access: CachedClientAccess?
    /// Whether the connected client is a bridge: deliveries to it carry the loop trace (``MeshTrace``).
    /// Written at attach, before the connection subscribes; read when routing.
    var isBridge = false
    /// Whether this is the session of another node of the cluster (``PeerSession``): fixed by its identifier.
    let isPeer: Bool
    /// Set when the session moved to another node (``Broker/endSession(clientIdentifier:for:movingTo:transfer:via:)``):
    /// it stays in the tree a little longer, sending what still comes here for it to that node.
    var departed: SessionMove.Departed?
    /// Set for a while when the session moved here: a second copy of a message is not delivered.
    var arrived: SessionMove.Arrived?

    init(clientIdentifier: String, limits: OutboundFlow.Limits, receiveMaximum: UInt16, store: DurableStore?) {
        self.clientIdentifier = clientIdentifier
        self.isPeer = PeerSession.isPeer(clientIdentifier)
        self.flow = OutboundFlow(limits: limits)
        self.inbound = InboundFlow(receiveMaximum: Int(receiveMaximum))
        self.store = store
    }

    /// Whether the session outlives its connection and is therefore kept in the store (guarded by `lock`).
    var isPersistent: Bool { expiryInterval > 0 }

    static func == (lhs: SessionHandle, rhs: SessionHandle) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    var isOnline: Bool { lock.withLock { target != nil } }

    /// Whether the session's client may read `topic` now, under the rights of the client attached
    /// last (call with `lock` held). Queued and in-flight messages are checked with it when they
    /// are sent, whoever they were queued for (I8).
    func mayRead(_ topic: String) -> Bool {
        guard access != nil else { return true }
        return access?.allows(.read, topic: topic) ?? true
    }

    /// The publishers to wake because the queue drained (or the client left). Call with `lock` held.
    func takeWaitersIfDrained() -> [any PausedPublisher] {
        guard !waiters.isEmpty, target == nil || flow.hasDrainedBelowLowWater else { return [] }
        defer { waiters.removeAll() }
        return waiters
    }

    /// Resumes reading on each paused publisher, on its own event loop.
    static func wake(_ waiters: [any PausedPublisher], from handle: SessionHandle) {
        for waiter in waiters {
            waiter.loopContext.eventLoop.execute { waiter.backpressureReleased(by: handle) }
        }
    }
}
