import Logging
import MeridianBrokerCore
import MeridianMQTT
import NIOConcurrencyHelpers
import MeridianStore
import NIOCore

/// The broker's shared state: sessions by client identifier, the subscription tree and the
/// retained messages, behind one lock that is held only for lookups and updates, never for I/O.
final class Broker: @unchecked Sendable {
    let settings: BrokerSettings
    let logger: Logger
    private let lock = NIOLock()
    private var sessions: [String: SessionHandle] = [:]
    private var tree = SubscriptionTree<SessionHandle>()
    private var retained = RetainedMessages()
    private var assignedIdentifierCounter: UInt64 = 0
    let startedAt = NIODeadline.now()

    /// Connection statistics (guarded by `lock`).
    private(set) var connectedCount = 0
    private(set) var maximumConnected = 0
    private(set) var totalConnections = 0
    /// Per-reason drop counts (guarded by `lock`; drops are rare, so a lock is fine).
    private var drops: [DropReason: Int] = [:]
    private var lastDropLog: NIODeadline = .uptimeNanoseconds(0)
    private var shuttingDown = false
    var isShuttingDown: Bool { lock.withLock { shuttingDown } }

    /// The durable store, when `persistence true`.
    let store: DurableStore?
    /// The last message id handed to the store.
    private let lastMessageID = NIOLockedValueBox<UInt64>(0)

    init(settings: BrokerSettings, logger: Logger, store: DurableStore? = nil) {
        self.settings = settings
        self.logger = logger
        self.store = store
    }

    private func nextMessageID() -> UInt64 {
        lastMessageID.withLockedValue { $0 += 1; return $0 }
    }

    func raiseLastMessageID(to value: UInt64) {
        lastMessageID.withLockedValue { $0 = max($0, value) }
    }

    /// Installs sessions and retained messages recovered from the store (before any client connects).
    func adoptRestored(sessions restored: [String: SessionHandle], retained messages: [BrokerMessage]) {
        lock.withLock {
            for (clientID, handle) in restored {
                sessions[clientID] = handle
                let subscriptions = handle.lock.withLock { handle.subscriptions }
                for (filter, subscription) in subscriptions {
                    tree.subscribe(handle, filter: filter, options: subscription.options, identifier: subscription.identifier)
                }
            }
            for message in messages { retained.retain(message) }
        }
    }

    // MARK: - Sessions

    struct Attachment {
        let handle: SessionHandle
        let sessionPresent: Bool
        let previous: MQTTConnectionHandler?
    }

    func makeAssignedIdentifier() -> String {
        lock.withLock {
            assignedIdentifierCounter += 1
            return "meridian-\(startedAt.uptimeNanoseconds % 1_000_000_007)-\(assignedIdentifierCounter)"
        }
    }

    /// Attaches `connection` to the session of `clientIdentifier`, creating or resetting it per Clean Start,
    /// and sets the connection's limits on the session's flow in the same critical section.
    /// Returns the connection it took over from, which the caller must close.
    func attach(
        _ connection: MQTTConnectionHandler, clientIdentifier: String, cleanStart: Bool, expiryInterval: UInt32,
        version: MQTTProtocolVersion, configure: (inout OutboundFlow) -> Void
    ) -> Attachment {
        lock.withLock {
            connectedCount += 1
            totalConnections += 1
            maximumConnected = max(maximumConnected, connectedCount)
            var sessionPresent = false
            var handle: SessionHandle
            var previous: MQTTConnectionHandler?
            if let existing = sessions[clientIdentifier], !cleanStart {
                handle = existing
                sessionPresent = true
            } else {
                if let existing = sessions[clientIdentifier] {
                    // Clean Start: the old session ends, and a connection still using it is taken over.
                    previous = existing.lock.withLock { existing.connection }
                    removeSessionLocked(existing)
                }
                handle = SessionHandle(clientIdentifier: clientIdentifier, limits: settings.sessionLimits, store: store)
                sessions[clientIdentifier] = handle
            }
            if let store {
                // A pending delayed will is cancelled by the reconnect; the session row records the new expiry.
                var operations: [StoreOperation] = [.deleteWill(clientID: clientIdentifier)]
                if expiryInterval > 0 {
                    operations.append(.upsertSession(StoredSession(
                        clientID: clientIdentifier, expiryInterval: expiryInterval, protocolVersion: version)))
                }
                store.enqueue(operations)
            }
            handle.lock.withLock {
                if let current = handle.connection { previous = current }
                handle.connection = connection
                handle.generation &+= 1
                handle.expiryInterval = expiryInterval
                handle.drainScheduled = false
                handle.expiryTimer?.cancel()
                handle.expiryTimer = nil
                configure(&handle.flow)
            }
            return Attachment(handle: handle, sessionPresent: sessionPresent, previous: previous)
        }
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

    /// Called when `connection` closed: detaches it and ends the session if its expiry is 0.
    func detach(_ connection: MQTTConnectionHandler, from handle: SessionHandle) -> Detachment {
        lock.withLock {
            connectedCount -= 1
            let (stillOurs, generation, expiry, shared) = handle.lock.withLock { () -> (Bool, UInt64, UInt32, [Delivery]) in
                guard handle.connection === connection else { return (false, handle.generation, handle.expiryInterval, []) }
                handle.connection = nil
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
            let due = handle.lock.withLock { !handle.isLive || (handle.connection == nil && handle.generation == generation) }
            guard due, !isShuttingDown else { return }
            let now = context.eventLoop.now
            route(BrokerMessage(publish: will, origin: handle.clientIdentifier, now: now), via: context, now: now)
            if handle.lock.withLock({ handle.connection == nil }) {
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
            if handle.connection == nil && handle.generation == generation && handle.isLive {
                handle.expiryTimer = task
            } else {
                task.cancel()
            }
        }
    }

    /// Removes the session if it is still offline in the same generation (its expiry passed).
    func expireSession(_ handle: SessionHandle, generation: UInt64) -> Bool {
        lock.withLock {
            let stale = handle.lock.withLock { handle.connection != nil || handle.generation != generation }
            guard !stale, sessions[handle.clientIdentifier] === handle else { return false }
            removeSessionLocked(handle)
            return true
        }
    }

    private func removeSessionLocked(_ handle: SessionHandle) {
        let filters = handle.lock.withLock { () -> [String] in
            handle.isLive = false
            handle.expiryTimer?.cancel()
            handle.expiryTimer = nil
            return Array(handle.subscriptions.keys)
        }
        for filter in filters { tree.unsubscribe(handle, filter: filter) }
        if sessions[handle.clientIdentifier] === handle {
            sessions[handle.clientIdentifier] = nil
            store?.enqueue([.deleteSession(clientID: handle.clientIdentifier)])
        }
    }

    /// Number of sessions without a connection.
    var statistics: (sessions: Int, connected: Int, maximum: Int, total: Int, subscriptions: Int, retained: Int, drops: Int) {
        lock.withLock {
            (sessions.count, connectedCount, maximumConnected, totalConnections, tree.count, retained.count,
             drops.values.reduce(0, +))
        }
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
            let existed = tree.subscribe(handle, filter: filter, options: options, identifier: identifier)
            let persistent = handle.lock.withLock {
                handle.subscriptions[filter] = .init(options: options, identifier: identifier)
                return handle.isPersistent
            }
            if persistent {
                store?.enqueue([.upsertSubscription(clientID: handle.clientIdentifier, filter: filter, options: options, identifier: identifier)])
            }
            if MQTTSharedFilter(parsing: filter) != nil { return (existed, []) }  // no retained for shared (4.8.2)
            switch options.retainHandling {
            case .doNotSend: return (existed, [])
            case .sendOnNewSubscribe where existed: return (existed, [])
            default: return (existed, retained.matching(filter: filter, now: now))
            }
        }
    }

    func unsubscribe(_ handle: SessionHandle, filter: String) -> Bool {
        lock.withLock {
            let existed = tree.unsubscribe(handle, filter: filter)
            let persistent = handle.lock.withLock {
                _ = handle.subscriptions.removeValue(forKey: filter)
                return handle.isPersistent
            }
            if persistent && existed { store?.enqueue([.deleteSubscription(clientID: handle.clientIdentifier, filter: filter)]) }
            return existed
        }
    }

    // MARK: - Routing

    /// What routing one message did.
    struct RouteOutcome {
        /// The number of sessions it was addressed to.
        var count = 0
        /// Sessions whose queue passed its bounds under the backpressure policy.
        var congested: [SessionHandle] = []
        /// The commits of what the message left in the store (for persistent sessions, or as retained):
        /// a QoS 1/2 acknowledgement must wait for them (invariant I1).
        var commits: [EventLoopFuture<Void>] = []
    }

    /// Routes a message to every matching session, storing it first if it is retained.
    @discardableResult
    func route(_ message: BrokerMessage, via context: LoopContext, now: NIODeadline) -> RouteOutcome {
        var outcome = RouteOutcome()
        var targets: [(SubscriptionEntry<SessionHandle>, String?)] = []
        lock.withLock {
            if message.retain {
                retained.retain(message)
                // $SYS is rebuilt every sys_interval: storing it would only wear the flash.
                if let store, !message.topic.hasPrefix("$SYS/") {
                    let stored = message.payload.readableBytes == 0 ? nil : StoredMessage(message, now: now, wallNow: unixTime())
                    let operation = StoreOperation.putRetained(topic: message.topic, stored)
                    if message.qos == .atMostOnce {
                        store.enqueue([operation])
                    } else {
                        outcome.commits.append(store.commit([operation], on: context.eventLoop))
                    }
                }
            }
            let match = tree.match(topic: message.topic)
            if match.isEmpty { return }
            targets.reserveCapacity(match.entries.count + match.groups.count)
            for entry in match.entries { targets.append((entry, nil)) }
            for group in match.groups {
                if let member = group.next(where: { $0.isOnline }) {
                    targets.append((member, "$share/\(group.name)/"))
                }
            }
        }
        outcome.count = targets.count
        if targets.isEmpty { return outcome }
        if targets.count == 1 {
            deliver(message, entry: targets[0].0, identifiers: nil, shared: targets[0].1, via: context, now: now, outcome: &outcome)
            return outcome
        }
        // Overlapping subscriptions of one session: one delivery with the highest QoS and every identifier.
        var merged: [SessionHandle: (SubscriptionEntry<SessionHandle>, [UInt32])] = [:]
        var order: [SessionHandle] = []
        for (entry, shared) in targets {
            if shared != nil {
                deliver(message, entry: entry, identifiers: nil, shared: shared, via: context, now: now, outcome: &outcome)
                continue
            }
            if var existing = merged[entry.subscriber] {
                if entry.options.qos > existing.0.options.qos { existing.0.options.qos = entry.options.qos }
                existing.0.options.retainAsPublished = existing.0.options.retainAsPublished || entry.options.retainAsPublished
                existing.0.options.noLocal = existing.0.options.noLocal && entry.options.noLocal
                if let id = entry.identifier { existing.1.append(id) }
                merged[entry.subscriber] = existing
            } else {
                merged[entry.subscriber] = (entry, entry.identifier.map { [$0] } ?? [])
                order.append(entry.subscriber)
            }
        }
        for handle in order {
            let (entry, identifiers) = merged[handle]!
            deliver(message, entry: entry, identifiers: identifiers, shared: nil, via: context, now: now, outcome: &outcome)
        }
        return outcome
    }

    private func deliver(
        _ message: BrokerMessage, entry: SubscriptionEntry<SessionHandle>, identifiers: [UInt32]?, shared: String?,
        via context: LoopContext, now: NIODeadline, outcome: inout RouteOutcome
    ) {
        if entry.options.noLocal, let origin = message.origin, origin == entry.subscriber.clientIdentifier { return }
        let delivery = Delivery(
            message: message,
            qos: min(message.qos, entry.options.qos),
            retain: entry.options.retainAsPublished ? message.retain : false,
            subscriptionIdentifiers: identifiers ?? entry.identifier.map { [$0] } ?? [],
            sharedFilter: shared
        )
        let result = offer(delivery, to: entry.subscriber, via: context, now: now)
        if result.congested { outcome.congested.append(entry.subscriber) }
        if let commit = result.commit { outcome.commits.append(commit) }
    }

    /// Offers one delivery to a session: sent at once, queued or dropped (counted).
    ///
    /// A QoS 1/2 delivery to a persistent session is appended to the store first (the caller waits
    /// for the commit before acknowledging the publisher). A shared-subscription delivery to a member
    /// that went offline since it was chosen goes to another member instead (unless `redistributing`,
    /// which is that second choice).
    /// - Returns: whether the session's queue is past its bounds under the backpressure policy, and
    ///   the commit of the delivery's row when it was handed to the store.
    @discardableResult
    func offer(
        _ delivery: Delivery, to handle: SessionHandle, via context: LoopContext, now: NIODeadline, redistributing: Bool = false
    ) -> (congested: Bool, commit: EventLoopFuture<Void>?) {
        var redirect = false
        var commit: EventLoopFuture<Void>?
        let (connection, result, scheduleDrain) = handle.lock.withLock { () -> (MQTTConnectionHandler?, OutboundFlow.Offer, Bool) in
            let connection = handle.connection
            if delivery.sharedFilter != nil && !redistributing && (connection == nil || !handle.isLive) {
                redirect = true
                return (nil, .queued, false)
            }
            var delivery = delivery
            let persist = store != nil && delivery.qos != .atMostOnce && handle.isPersistent && handle.isLive
            if persist { delivery.storeID = nextMessageID() }
            let remote = connection.map { $0.loopIndex != context.index } ?? false
            let result = handle.flow.offer(delivery, online: connection != nil, sendNow: !remote, now: now)
            if persist, let store, let id = delivery.storeID {
                if case .dropped = result {} else {
                    // Submitted under the session lock, so it precedes the flow's later effects on this row.
                    commit = store.commit([.appendMessage(
                        clientID: handle.clientIdentifier, messageID: id, StoredMessage(delivery, now: now, wallNow: unixTime()))],
                        on: context.eventLoop)
                    handle.persistFlowEffects()
                }
            }
            switch result {
            case .queued, .queuedOverLimit:
                guard remote, !handle.drainScheduled, handle.flow.canDrain else { return (connection, result, false) }
                handle.drainScheduled = true
                return (connection, result, true)
            case .send, .dropped:
                return (connection, result, false)
            }
        }
        if redirect {
            redistributeShared([delivery], from: handle, via: context, now: now)
            return (false, nil)
        }
        switch result {
        case .send(let publish):
            if let connection { context.send(publish, to: connection) }
        case .queued, .queuedOverLimit:
            if scheduleDrain, let connection { context.scheduleDrain(of: connection) }
            if case .queuedOverLimit = result { return (true, commit) }
        case .dropped(let reason):
            recordDrop(reason, clientIdentifier: handle.clientIdentifier, now: now)
        }
        return (false, commit)
    }

    func recordDrop(_ reason: DropReason, clientIdentifier: String, now: NIODeadline) {
        let shouldLog: Bool = lock.withLock {
            drops[reason, default: 0] += 1
            guard now - lastDropLog >= .seconds(1) else { return false }
            lastDropLog = now
            return true
        }
        if shouldLog && reason != .offlineQoS0 {
            logger.warning("message dropped", metadata: ["client_id": "\(clientIdentifier)", "reason": "\(reason)"])
        }
    }

    func dropCounts() -> [DropReason: Int] { lock.withLock { drops } }

    /// Redelivers shared-subscription deliveries a departed member never acknowledged to other members.
    func redistributeShared(_ deliveries: [Delivery], from departed: SessionHandle, via context: LoopContext, now: NIODeadline) {
        for delivery in deliveries {
            guard let filter = delivery.sharedFilter else { continue }
            let choice: SubscriptionEntry<SessionHandle>? = lock.withLock {
                let groupName = filter.dropFirst("$share/".count).dropLast()
                let match = tree.match(topic: delivery.message.topic)
                guard let group = match.groups.first(where: { $0.name == groupName }) else { return nil }
                return group.next(where: { $0 !== departed && $0.isOnline })
            }
            let departedIsLive = departed.lock.withLock { departed.isLive }
            if let choice, choice.subscriber !== departed, choice.subscriber.isOnline || !departedIsLive {
                // Granted QoS, identifier and Retain As Published are the new member's.
                let rebuilt = Delivery(
                    message: delivery.message,
                    qos: min(delivery.message.qos, choice.options.qos),
                    retain: choice.options.retainAsPublished ? delivery.message.retain : false,
                    subscriptionIdentifiers: choice.identifier.map { [$0] } ?? [],
                    sharedFilter: filter
                )
                offer(rebuilt, to: choice.subscriber, via: context, now: now, redistributing: true)
            } else if departedIsLive {
                // No other member online: it waits in the departed member's session.
                offer(delivery, to: departed, via: context, now: now, redistributing: true)
            } else {
                recordDrop(.noSubscriber, clientIdentifier: departed.clientIdentifier, now: now)
            }
        }
    }

    func removeExpiredRetained(now: NIODeadline) {
        lock.withLock { _ = retained.removeExpired(now: now) }
    }
}
