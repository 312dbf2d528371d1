import Logging
import MeridianBrokerCore
import MeridianMQTT
import NIOConcurrencyHelpers
import MeridianSecurity
import MeridianStore
import NIOCore

/// The broker's shared state: sessions by client identifier, the subscription tree and the
/// retained messages. Each part has its own lock, held only for lookups and updates, never for
/// I/O, so that routing a publish takes no lock that connects, statistics or other loops' routing
/// contend for: matching is under the read side of ``subscriptionsLock``, which every loop holds at once.
///
/// Lock order: `lock` → `subscriptionsLock` → `retainedLock` → `sharedGroupLock` → a session's lock;
/// never the reverse.
final class Broker: @unchecked Sendable {
    let settings: BrokerSettings
    let logger: Logger
    /// Sessions, connection statistics, drops, refusals and the security policy.
    let lock = NIOLock()
    var sessions: [String: SessionHandle] = [:]
    /// Written by subscribe and unsubscribe; read by routing (each loop caches its matches, ``MatchCache``).
    let subscriptionsLock = ReadWriteLock()
    var tree = SubscriptionTree<SessionHandle>()
    let retainedLock = NIOLock()
    var retained = RetainedMessages()
    /// The round-robin choice within a shared group, made by readers of the tree at once.
    let sharedGroupLock = NIOLock()
    private var assignedIdentifierCounter: UInt64 = 0
    /// The clock of every decision (``MonotonicClock``).
    let clock: any MonotonicClock
    let startedAt: NIODeadline

    /// Connection statistics (guarded by `lock`).
    private(set) var connectedCount = 0
    private(set) var maximumConnected = 0
    private(set) var totalConnections = 0
    /// Per-reason drop counts (guarded by `lock`; drops are rare, so a lock is fine).
    var drops: [DropReason: Int] = [:]
    /// Drops of bridge sessions (their outboxes), by client identifier, for per-bridge figures.
    var bridgeDrops: [String: [DropReason: Int]] = [:]
    var lastDropLog: NIODeadline = .uptimeNanoseconds(0)
    /// Rate limit of authentication failure log lines (guarded by `lock`).
    var lastAuthenticationFailureLog: NIODeadline?
    var authenticationFailuresNotLogged = 0
    /// Connections refused, by ``ConnectionRefusal`` label (guarded by `lock`; refusals are rare).
    var refusals: [String: Int] = [:]
    private var shuttingDown = false
    var isShuttingDown: Bool { lock.withLock { shuttingDown } }

    /// The durable store, when `persistence true`.
    let store: DurableStore?
    /// Set while the store's file system has less free space than `minimumFreeDiskBytes`.
    let diskLow = NIOLockedValueBox(false)
    /// The last message id handed to the store.
    let lastMessageID = NIOLockedValueBox<UInt64>(0)

    /// Authentication and ACL in force (guarded by `lock`; replaced by ``applySecurity(_:)``).
    var security: SecurityPolicy

    /// Who this broker is (given from outside: the edge keeps it in its store).
    let node: NodeIdentity
    /// This broker's name in message identities (``MeshTrace``): id and incarnation, so identities
    /// from before a restart never collide with new ones.
    let nodeName: String
    /// Identities of messages received over bridges.
    let recentBridgeMessageIDs: NIOLockedValueBox<RecentMessageIDs>

    /// Whether a CONNECT may have its session here (``SessionAdmission``): always, on the edge.
    let admission: SessionAdmission
    /// The other nodes of the cluster (``ClusterRouting``); nil on the edge.
    let cluster: ClusterRouting?
    /// The sessions of the other nodes (``PeerSession``), which every retained message goes to.
    let peerSessions = NIOLockedValueBox<[SessionHandle]>([])
    /// Sessions that moved to another node and still forward to it (``SessionHandle/departed``), by
    /// client id (guarded by `lock`).
    var movedSessions: [String: SessionHandle] = [:]

    init(
        settings: BrokerSettings, logger: Logger, store: DurableStore? = nil, security: SecurityPolicy = .init(),
        admission: SessionAdmission = LocalAdmission(), cluster: ClusterRouting? = nil, node: NodeIdentity = .ephemeral(),
        clock: any MonotonicClock = SystemClock()
    ) {
        self.cluster = cluster
        self.retained = RetainedMessages(keepsClears: cluster != nil)
        self.clock = clock
        self.startedAt = clock.now
        self.admission = admission
        self.node = node
        self.nodeName = node.meshName
        self.recentBridgeMessageIDs = NIOLockedValueBox(RecentMessageIDs(capacity: max(1, settings.recentBridgeMessageIDs)))
        self.settings = settings
        self.logger = logger
        self.store = store
        self.security = security
    }

    /// The policy a connecting client is checked against.
    var securityPolicy: SecurityPolicy { lock.withLock { security } }

    /// Takes in a message published by a bridge (I5): counts the link it crossed, names it if it
    /// has no identity yet, and returns nil when it is a second copy or one of ours come back.
    func admitFromBridge(_ message: BrokerMessage) -> BrokerMessage? {
        var message = message
        let trace = MeshTrace.read(message.properties)
        if let id = trace.id {
            if MeshTrace.isOwn(id, node: nodeName) { return nil }
            guard recentBridgeMessageIDs.withLockedValue({ $0.insert(id) }) else { return nil }
        }
        message.hops = trace.hops + 1
        let id = trace.id ?? MeshTrace.identity(node: nodeName, sequence: message.sequence)
        MeshTrace.stamp(&message.properties, hops: message.hops, id: id)
        return message
    }

    func nextMessageID() -> UInt64 {
        lastMessageID.withLockedValue { $0 += 1; return $0 }
    }

    func raiseLastMessageID(to value: UInt64) {
        lastMessageID.withLockedValue { $0 = max($0, value) }
    }

    /// Installs sessions and retained messages recovered from the store (before any client connects).
    func adoptRestored(
        sessions restored: [String: SessionHandle], retained values: [(topic: String, message: BrokerMessage?, version: RetainedVersion?)]
    ) {
        lock.withLock {
            for (clientID, handle) in restored {
                sessions[clientID] = handle
                if handle.isPeer { peerSessions.withLockedValue { $0.append(handle) } }
                handle.lock.withLock {
                    // The identity stored with the session: the ACL applies before its client reconnects.
                    handle.access = handle.identity.access(under: security.acl, clientIdentifier: clientID)
                }
                addToTree(handle, handle.lock.withLock { handle.subscriptions.map { ($0.key, $0.value) } })
            }
            retainedLock.withLock {
                for value in values { retained.restore(value.message, topic: value.topic, version: value.version) }
            }
        }
    }

    /// Puts subscriptions a session already holds (restored, or moved here) into the tree, and
    /// announces the filters new to this node to the cluster. Call under `lock`.
    private func addToTree(_ handle: SessionHandle, _ subscriptions: [(filter: String, subscription: SessionHandle.Subscription)]) {
        guard !subscriptions.isEmpty else { return }
        subscriptionsLock.withWriteLock {
            for (filter, subscription) in subscriptions {
                let existed = tree.subscribe(handle, filter: filter, options: subscription.options, identifier: subscription.identifier)
                if !existed && !handle.isPeer { cluster?.localSubscriptionAdded(filter) }
            }
        }
    }

    // MARK: - Sessions

    struct Attachment {
        let handle: SessionHandle
        let sessionPresent: Bool
        let previous: (any DeliveryTarget)?
        /// The connection's publish and subscribe decisions (nil = no ACL, or a trusted client).
        let access: CachedClientAccess?
    }

    func makeAssignedIdentifier() -> String {
        lock.withLock {
            assignedIdentifierCounter += 1
            // The node's id and incarnation: unique across restarts and across the nodes of a cluster.
            return "meridian-\(nodeName)-\(assignedIdentifierCounter)"
        }
    }

    /// Attaches `target` to the session of `clientIdentifier`, creating or resetting it per Clean Start,
    /// and sets the connection's limits on the session's flow in the same critical section.
    /// Returns the connection it took over from, which the caller must close; nil, with nothing
    /// changed, when the session belongs to another user (``SessionIdentity/admits(_:allowCrossUser:)``).
    func attach(
        _ target: any DeliveryTarget, clientIdentifier: String, cleanStart: Bool, expiryInterval: UInt32,
        version: MQTTProtocolVersion, isBridge: Bool = false, identity: SessionIdentity,
        configure: (inout OutboundFlow) -> Void
    ) -> Attachment? {
        lock.withLock {
            if let existing = sessions[clientIdentifier] {
                let owner = existing.lock.withLock { existing.identity }
                guard owner.admits(identity, allowCrossUser: settings.allowCrossUserTakeover) else { return nil }
            }
            // Built under the broker's lock, so that an ACL reload either precedes it or sees this session.
            let access = identity.access(under: security.acl, clientIdentifier: clientIdentifier)
            connectedCount += 1
            totalConnections += 1
            maximumConnected = max(maximumConnected, connectedCount)
            var sessionPresent = false
            var handle: SessionHandle
            var previous: (any DeliveryTarget)?
            if let existing = sessions[clientIdentifier], !cleanStart {
                handle = existing
                sessionPresent = true
            } else {
                if let existing = sessions[clientIdentifier] {
                    // Clean Start: the old session ends, and a connection still using it is taken over.
                    previous = existing.lock.withLock { existing.target }
                    removeSessionLocked(existing)
                }
                handle = SessionHandle(clientIdentifier: clientIdentifier, limits: settings.sessionLimits, receiveMaximum: settings.receiveMaximum, store: store)
                endMovedSessionLocked(clientIdentifier)
                sessions[clientIdentifier] = handle
                if handle.isPeer { peerSessions.withLockedValue { $0.append(handle) } }
            }
            if let store {
                // A pending delayed will is cancelled by the reconnect; the session row records the new expiry.
                var operations: [StoreOperation] = [.deleteWill(clientID: clientIdentifier)]
                if expiryInterval > 0 {
                    operations.append(.upsertSession(StoredSession(
                        clientID: clientIdentifier, expiryInterval: expiryInterval, protocolVersion: version,
                        identity: identity.stored)))
                }
                store.enqueue(operations)
            }
            handle.lock.withLock {
                if let current = handle.target { previous = current }
                handle.target = target
                handle.isBridge = isBridge
                handle.generation &+= 1
                handle.expiryInterval = expiryInterval
                handle.drainScheduled = false
                handle.expiryTimer?.cancel()
                handle.expiryTimer = nil
                handle.identity = identity
                handle.access = access
                configure(&handle.flow)
            }
            return Attachment(handle: handle, sessionPresent: sessionPresent, previous: previous, access: access)
        }
    }

    /// Installs a session that moved here from another node (``endSession(clientIdentifier:for:movingTo:transfer:via:)``
    /// there), offline until its client attaches; stored first when persistence is on. A session of
    /// the same client id and owner already here (an older copy, restored from this node's store)
    /// takes the moved subscriptions it lacks and the moved messages after its own, so neither
    /// copy's messages are lost; one of another owner stays as it is, and the moved state is dropped
    /// (logged: its client could not attach to this one anyway, I8). - Returns: the commit of its rows.
    func install(
        _ taken: TakenSession, via context: LoopContext, marking: (state: BridgeState, key: String, value: String)? = nil
    ) -> EventLoopFuture<Void> {
        let clientID = taken.clientIdentifier
        let identity = SessionIdentity.client(username: taken.username)
        let now = context.now
        let wallNow = unixTime()
        var operations: [StoreOperation] = []
        var expiring: SessionHandle?
        let installed = lock.withLock { () -> Bool in
            let existing = sessions[clientID]
            if let existing, existing.lock.withLock({ existing.identity }) != identity { return false }
            let handle = existing ?? SessionHandle(
                clientIdentifier: clientID, limits: settings.sessionLimits, receiveMaximum: settings.receiveMaximum, store: store)
            let persistent = existing.map { existing in existing.lock.withLock { existing.isPersistent } } ?? (taken.expiryInterval > 0)
            if existing == nil, store != nil {
                operations.append(.upsertSession(StoredSession(
                    clientID: clientID, expiryInterval: taken.expiryInterval, protocolVersion: taken.protocolVersion,
                    disconnectedAt: unixTime(), identity: identity.stored)))
            }
            func stored(_ delivery: Delivery, packetID: UInt16? = nil, released: Bool = false) -> Delivery {
                guard store != nil, persistent, delivery.qos != .atMostOnce else { return delivery }
                var delivery = delivery
                let id = nextMessageID()
                delivery.storeID = id
                operations.append(.appendMessage(clientID: clientID, messageID: id, StoredMessage(delivery, now: now, wallNow: wallNow)))
                if let packetID, delivery.qos == .exactlyOnce {
                    operations.append(.updateMessageState(clientID: clientID, messageID: id, packetID: packetID, released: released))
                }
                return delivery
            }
            // In flight under their packet identifiers (resent as they are, PUBREL for the released);
            // merged into a copy here, which has identifiers of its own, the unreleased go first in the queue.
            var inflight: [(packetIdentifier: UInt16, delivery: Delivery, released: Bool)] = []
            var queue: [Delivery] = []
            for entry in taken.inflight {
                if existing == nil {
                    inflight.append((entry.packetIdentifier, stored(entry.delivery, packetID: entry.packetIdentifier, released: entry.released), entry.released))
                } else if !entry.released {
                    queue.append(stored(entry.delivery))
                }
            }
            for delivery in taken.deliveries { queue.append(stored(delivery)) }
            let added = handle.lock.withLock { () -> [TakenSession.Subscription] in
                if existing == nil {
                    handle.identity = identity
                    handle.access = identity.access(under: security.acl, clientIdentifier: clientID)
                    handle.expiryInterval = taken.expiryInterval
                    handle.flow.protocolVersion = taken.protocolVersion
                }
                handle.flow.restore(inflight: inflight, queue: queue)
                let added = taken.subscriptions.filter { handle.subscriptions[$0.filter] == nil }
                for subscription in added {
                    handle.subscriptions[subscription.filter] = .init(options: subscription.options, identifier: subscription.identifier)
                }
                return added
            }
            if store != nil, persistent {
                for subscription in added {
                    operations.append(.upsertSubscription(
                        clientID: clientID, filter: subscription.filter, options: subscription.options, identifier: subscription.identifier))
                }
            }
            if existing == nil {
                endMovedSessionLocked(clientID)
                sessions[clientID] = handle
                expiring = handle
                // Copies of what is on its way to the old node for it may follow (``moveSession``): delivered once.
                handle.lock.withLock {
                    var arrived = SessionMove.Arrived(at: now, window: Self.movedSessionGrace * 3, capacity: Self.movedSessionIdentities)
                    // What came with the state counts as delivered: a copy forwarded after it is a second one.
                    for delivery in inflight.map(\.delivery) + queue {
                        if let identity = delivery.message.peerIdentity { _ = arrived.isSecondCopy(identity: identity, qos: delivery.qos) }
                    }
                    handle.arrived = arrived
                }
            }
            addToTree(handle, added.map { ($0.filter, .init(options: $0.options, identifier: $0.identifier)) })
            return true
        }
        guard installed else {
            logger.warning("a session moved here belongs to another user than this node's session of that client id: kept this one", metadata: [
                "client_id": "\(clientID)",
            ])
            return context.eventLoop.makeSucceededFuture(())
        }
        if let expiring, taken.expiryInterval != UInt32.max {
            scheduleExpiry(of: expiring, generation: 0, after: .seconds(Int64(taken.expiryInterval)), on: context.eventLoop)
        }
        if let marking, let operation = marking.state.record(marking.key, marking.value) { operations.append(operation) }
        guard let store, !operations.isEmpty else { return context.eventLoop.makeSucceededFuture(()) }
        return store.commit(operations, on: context.eventLoop)
    }

    struct Detachment {
        /// Whether the connection still owned the session (no other connection took it over).
        var wasAttached: Bool
        /// Whether the session ended with the connection (expiry 0).
        var ended: Bool
        var generation: UInt64
        var expiry: UInt32
        /// Shared-subscription deliveries the client had not received, for other group members.
        var unacknowledgedShared: [Delivery] = []
    }

    /// Called when `target` closed: detaches it and ends the session if its expiry is 0.
    func detach(_ target: any DeliveryTarget, from handle: SessionHandle) -> Detachment {
        lock.withLock {
            connectedCount -= 1
            let (stillOurs, generation, expiry, shared) = handle.lock.withLock { () -> (Bool, UInt64, UInt32, [Delivery]) in
                guard handle.target === target else { return (false, handle.generation, handle.expiryInterval, []) }
                handle.target = nil
                handle.flow.discardQueuedQoS0()
                SessionHandle.wake(handle.takeWaitersIfDrained(), from: handle)
                return (true, handle.generation, handle.expiryInterval, handle.flow.takeSharedUnacknowledged())
            }
            guard stillOurs else { return Detachment(wasAttached: false, ended: false, generation: generation, expiry: expiry) }
            let ended = expiry == 0 && sessions[handle.clientIdentifier] === handle
            if ended {
                removeSessionLocked(handle)
            } else if let store {
                handle.lock.withLock { handle.persistFlowEffects() }
                store.enqueue([.markSessionDisconnected(clientID: handle.clientIdentifier, at: unixTime())])
            }
            let live = handle.lock.withLock { handle.isLive }
            return Detachment(
                wasAttached: true, ended: ended || !live, generation: generation, expiry: expiry, unacknowledgedShared: shared
            )
        }
    }

    /// Arms the timer of a delayed will: it is published when due unless the client reconnected
    /// to the session in the meantime (which cancels it), and then leaves the store.
    func scheduleWill(_ will: MQTTPublish, of handle: SessionHandle, generation: UInt64, after delay: TimeAmount, via context: LoopContext) {
        context.eventLoop.scheduleTask(in: delay) { [self] in
            let due = handle.lock.withLock { !handle.isLive || (handle.target == nil && handle.generation == generation) }
            guard due, !isShuttingDown else { return }
            let now = context.now
            route(BrokerMessage(publish: will, origin: handle.clientIdentifier, now: now), via: context, now: now)
            if handle.lock.withLock({ handle.target == nil }) {
                store?.enqueue([.deleteWill(clientID: handle.clientIdentifier)])
            }
            context.flush()
        }
    }

    /// Arms the timer that ends an offline session when its expiry interval passes.
    func scheduleExpiry(of handle: SessionHandle, generation: UInt64, after delay: TimeAmount, on loop: EventLoop) {
        let task = loop.scheduleTask(in: delay) { [self] in
            if expireSession(handle, generation: generation) {
                logger.info("session expired", metadata: ["client_id": "\(handle.clientIdentifier)"])
            }
        }
        handle.lock.withLock {
            if handle.target == nil && handle.generation == generation && handle.isLive {
                handle.expiryTimer = task
            } else {
                task.cancel()
            }
        }
    }

    /// Removes the session if it is still offline in the same generation (its expiry passed).
    func expireSession(_ handle: SessionHandle, generation: UInt64) -> Bool {
        lock.withLock {
            let stale = handle.lock.withLock { handle.target != nil || handle.generation != generation }
            guard !stale, sessions[handle.clientIdentifier] === handle else { return false }
            removeSessionLocked(handle)
            return true
        }
    }

    /// - Parameters:
    ///   - keepingPlainSubscriptions: for a session that moved (``endSession(clientIdentifier:for:movingTo:transfer:via:)``):
    ///     only its shared subscriptions leave the tree now.
    ///   - deletingRows: false when the caller deletes the session's rows itself (after storing its transfer).
    func removeSessionLocked(_ handle: SessionHandle, keepingPlainSubscriptions: Bool = false, deletingRows: Bool = true) {
        let filters = handle.lock.withLock { () -> [String] in
            handle.isLive = false
            handle.expiryTimer?.cancel()
            handle.expiryTimer = nil
            return handle.subscriptions.keys.filter { !keepingPlainSubscriptions || MQTTSharedFilter(parsing: $0) != nil }
        }
        if !filters.isEmpty {
            subscriptionsLock.withWriteLock {
                for filter in filters where tree.unsubscribe(handle, filter: filter) && !handle.isPeer { cluster?.localSubscriptionRemoved(filter) }
            }
        }
        if sessions[handle.clientIdentifier] === handle {
            sessions[handle.clientIdentifier] = nil
            if handle.isPeer { peerSessions.withLockedValue { $0.removeAll { $0 === handle } } }
            if deletingRows { store?.enqueue([.deleteSession(clientID: handle.clientIdentifier)]) }
        }
    }

    /// Number of sessions without a connection.
    var statistics: (sessions: Int, connected: Int, maximum: Int, total: Int, subscriptions: Int, retained: Int, drops: Int) {
        let counts = lock.withLock { (sessions.count, connectedCount, maximumConnected, totalConnections, drops.values.reduce(0, +)) }
        return (counts.0, counts.1, counts.2, counts.3, subscriptionCount, retainedCount, counts.4)
    }

    var subscriptionCount: Int { subscriptionsLock.withReadLock { tree.count } }
    var retainedCount: Int { retainedLock.withLock { retained.count } }

    /// The queue of a session, for status figures: queued messages and bytes, messages in flight.
    func queueStatistics(clientIdentifier: String) -> (queued: Int, queuedBytes: Int, inflight: Int)? {
        guard let handle = lock.withLock({ sessions[clientIdentifier] }) else { return nil }
        return handle.lock.withLock { (handle.flow.queuedCount, handle.flow.queuedBytes, handle.flow.inflight.count) }
    }

    /// Seconds since the oldest message the session still owes its client (queued, or sent and not
    /// acknowledged) was accepted from its publisher; nil when it owes none.
    func oldestWaitingAge(clientIdentifier: String, now: NIODeadline) -> Double? {
        guard let handle = lock.withLock({ sessions[clientIdentifier] }) else { return nil }
        guard let since = handle.lock.withLock({ handle.flow.oldestWaitingSince }) else { return nil }
        return Double(max(0, (now - since).nanoseconds)) / 1e9
    }

    func beginShutdown() { lock.withLock { shuttingDown = true } }

    // MARK: - Subscriptions

    /// Adds a subscription and returns whether it existed before, plus the retained messages it should receive.
    func subscribe(
        _ handle: SessionHandle, filter: String, options: MQTTSubscriptionOptions, identifier: UInt32?, now: NIODeadline
    ) -> (existed: Bool, retained: [BrokerMessage]) {
        lock.withLock {
            // A session ended by a Clean Start takeover may still see packets from its old connection.
            guard handle.lock.withLock({ handle.isLive }) else { return (false, []) }
            let persistent = handle.lock.withLock {
                handle.subscriptions[filter] = .init(options: options, identifier: identifier)
                return handle.isPersistent
            }
            if persistent {
                store?.enqueue([.upsertSubscription(clientID: handle.clientIdentifier, filter: filter, options: options, identifier: identifier)])
            }
            let sendsRetained = MQTTSharedFilter(parsing: filter) == nil && options.retainHandling != .doNotSend  // none for shared (4.8.2)
            // Under the write lock until the retained messages are read, so that a message published
            // meanwhile arrives either live or as retained, not both.
            return subscriptionsLock.withWriteLock {
                let existed = tree.subscribe(handle, filter: filter, options: options, identifier: identifier)
                if !existed && !handle.isPeer { cluster?.localSubscriptionAdded(filter) }
                guard sendsRetained, !(existed && options.retainHandling == .sendOnNewSubscribe) else { return (existed, []) }
                return (existed, retainedLock.withLock { retained.matching(filter: filter, now: now) })
            }
        }
    }

    func unsubscribe(_ handle: SessionHandle, filter: String) -> Bool {
        lock.withLock {
            let existed = subscriptionsLock.withWriteLock { tree.unsubscribe(handle, filter: filter) }
            if existed && !handle.isPeer { cluster?.localSubscriptionRemoved(filter) }
            let persistent = handle.lock.withLock {
                _ = handle.subscriptions.removeValue(forKey: filter)
                return handle.isPersistent
            }
            if persistent && existed { store?.enqueue([.deleteSubscription(clientID: handle.clientIdentifier, filter: filter)]) }
            return existed
        }
    }

    /// The filters a session subscribes to (a peer session's routes as last set), or nil without the session.
    func subscriptionFilters(clientIdentifier: String) -> Set<String>? {
        guard let handle = lock.withLock({ sessions[clientIdentifier] }) else { return nil }
        return handle.lock.withLock { Set(handle.subscriptions.keys) }
    }

    /// Ends every subscription of a session, connected or not (a peer that left the cluster: its
    /// routes go, its queue stays until the session expires).
    func removeAllSubscriptions(clientIdentifier: String) {
        guard let handle = lock.withLock({ sessions[clientIdentifier] }) else { return }
        let filters = handle.lock.withLock { Array(handle.subscriptions.keys) }
        for filter in filters { _ = unsubscribe(handle, filter: filter) }
    }

    /// Drops expired retained messages; in a cluster, also forgets clears older than a peer
    /// session's lifetime (a node away for longer has lost what waited for it anyway).
    func removeExpiredRetained(now: NIODeadline) {
        let cutoff = unixTimeNanoseconds() - Int64(PeerSession.expiryInterval) * 1_000_000_000
        let forgotten = retainedLock.withLock { () -> Int in
            retained.removeExpired(now: now)
            return retained.keepsClears ? retained.removeClears(olderThan: cutoff) : 0
        }
        if forgotten > 0 { store?.enqueue([.forgetRetainedClears(before: cutoff)]) }
    }

    // MARK: - Retained messages between nodes

    /// Every topic's retained value and version, clears included, expired ones gone, `$SYS` excepted:
    /// what this node tells another when their link comes up.
    func retainedSnapshot(now: NIODeadline) -> [(topic: String, entry: RetainedMessages.Entry)] {
        retainedLock.withLock {
            retained.removeExpired(now: now)
            return retained.snapshot()
        }
    }

    /// Another node's value of a topic (nil: cleared), from the exchange at link-up: taken and
    /// stored only if newer than this node's. Not delivered: the exchange repairs the store, it is not a PUBLISH.
    /// - Returns: whether it was taken.
    @discardableResult
    func mergeRetained(_ message: BrokerMessage?, topic: String, version: RetainedVersion, now: NIODeadline) -> Bool {
        guard retainedLock.withLock({ retained.merge(message, topic: topic, version: version) }) else { return false }
        store?.enqueue([.putRetained(
            topic: topic, message.map { StoredMessage($0, now: now, wallNow: unixTime()) }, version: (version.time, version.node))])
        return true
    }
}
