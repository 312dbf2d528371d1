import Logging
import MeridianBrokerCore
import MeridianClusterCore
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// This node's membership of its cluster, kept in etcd only (DESIGN.md §8): a lease renewed every
/// TTL/3, a member key created under it in a transaction (its create revision is the node's
/// incarnation), the other members from a watch, and the self-fencing deadline of ``LeaseFencing``.
/// A lost lease fences the node at once; it then joins again with a new incarnation.
public final class ClusterMembership: Service, @unchecked Sendable {
    public struct Settings: Sendable {
        public var nodeName: String
        /// `<etcd_prefix>/clusters/<cluster>/members/`.
        public var memberPrefix: String
        /// The member key's value: where peers reach this node.
        public var advertise: String
        public var ttl: Int

        public init(nodeName: String, memberPrefix: String, advertise: String, ttl: Int) {
            self.nodeName = nodeName
            self.memberPrefix = memberPrefix
            self.advertise = advertise
            self.ttl = ttl
        }
    }

    /// Called with each membership change, and when this node fences itself or serves again.
    public enum Event: Sendable, Hashable {
        case change(Membership.Change)
        case fenced
        case serving(incarnation: Int64)
    }

    private let settings: Settings
    private let etcd: any EtcdClient
    private let clock: any MonotonicClock
    private let logger: Logger
    private let onEvent: @Sendable (Event) -> Void
    private struct State {
        var fencing: LeaseFencing
        var membership: Membership
        var lease: Int64?
        var incarnation: Int64?
    }
    private let state: NIOLockedValueBox<State>

    public init(
        settings: Settings, etcd: any EtcdClient, clock: any MonotonicClock, logger: Logger,
        onEvent: @escaping @Sendable (Event) -> Void = { _ in }
    ) {
        self.settings = settings
        self.etcd = etcd
        self.clock = clock
        self.logger = logger
        self.onEvent = onEvent
        self.state = NIOLockedValueBox(State(
            fencing: LeaseFencing(settings: .init(ttl: .seconds(Int64(settings.ttl)))),
            membership: Membership(prefix: settings.memberPrefix)))
    }

    /// Whether this node may act as an owner now.
    public var isServing: Bool {
        let now = clock.now
        return state.withLockedValue { $0.fencing.isServing(at: now) }
    }

    /// The live members, this node included once it joined.
    public var members: [Member] {
        state.withLockedValue { Array($0.membership.members.values) }.sorted { $0.name < $1.name }
    }

    public var incarnation: Int64? { state.withLockedValue { $0.incarnation } }

    public var nodeName: String { settings.nodeName }

    /// The lease this node holds now (its shard claims are made under it); nil while it has none.
    public var lease: Int64? { state.withLockedValue { $0.lease } }

    public struct NameTaken: Error, CustomStringConvertible {
        public var name: String
        public var description: String {
            "node_name \(name): a live node of this cluster already has this name (its member key stayed renewed); give each node its own name"
        }
    }

    /// Joins the cluster: a lease and the member key. A key left by a dead node of the same name
    /// goes when its lease expires, so a taken name is retried for one TTL before it is refused.
    public func join() async throws {
        let deadline = clock.now + .seconds(Int64(settings.ttl) + 1)
        while true {
            if try await tryJoin() { return }
            guard clock.now < deadline else { throw NameTaken(name: settings.nodeName) }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    private func tryJoin() async throws -> Bool {
        let sent = clock.now
        let lease = try await etcd.grantLease(ttl: settings.ttl)
        let key = settings.memberPrefix + settings.nodeName
        guard let incarnation = try await etcd.create(key: key, value: settings.advertise, lease: lease.id) else {
            try? await etcd.revoke(lease: lease.id)
            return false
        }
        let now = clock.now
        state.withLockedValue {
            $0.lease = lease.id
            $0.incarnation = incarnation
            $0.fencing.renewed(sentAt: sent, grantedTTL: .seconds(Int64(lease.ttl)), now: now)
        }
        logger.notice("joined the cluster", metadata: ["node": "\(settings.nodeName)", "incarnation": "\(incarnation)", "lease": "\(lease.id)"])
        onEvent(.serving(incarnation: incarnation))
        return true
    }

    /// Renews the lease, follows the members and checks the fencing deadline until shutdown; then
    /// revokes the lease, so the other nodes see this one leave at once.
    public func run() async throws {
        // Outside a ServiceGroup (tests), cancelling the calling task ends it the same way.
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.renewLoop() }
                group.addTask { await self.watchLoop() }
                group.addTask { await self.fenceLoop() }
                await group.waitForAll()
            }
        }
        await leave()
    }

    /// Revokes the lease (the member key goes with it).
    public func leave() async {
        guard let lease = state.withLockedValue({ $0.lease }) else { return }
        state.withLockedValue {
            $0.lease = nil
            $0.fencing.leaseLost()
        }
        try? await etcd.revoke(lease: lease)
        logger.notice("left the cluster", metadata: ["node": "\(settings.nodeName)"])
    }

    private func renewLoop() async {
        let interval = LeaseFencing.Settings(ttl: .seconds(Int64(settings.ttl))).renewalInterval
        // After a failed renewal the next goes out soon: when etcd's quorum returns, its new leader
        // extends every lease by only about one TTL, and a renewal must reach it within that.
        let retry = min(interval, .milliseconds(250))
        var pause = interval
        var failures = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .nanoseconds(pause.nanoseconds))
            pause = interval
            if Task.isCancelled { return }
            guard let lease = state.withLockedValue({ $0.lease }) else {
                // Fenced by a lost lease: join again, with a new incarnation.
                _ = try? await tryJoin()
                continue
            }
            let sent = clock.now
            do {
                let ttl = try await etcd.keepAlive(lease: lease)
                let now = clock.now
                if ttl <= 0 {
                    let wasServing = state.withLockedValue { state in
                        let serving = state.fencing.isServing(at: now)
                        state.fencing.leaseLost()
                        state.lease = nil
                        return serving
                    }
                    logger.warning("lease lost: fenced until the node joins again", metadata: ["lease": "\(lease)"])
                    if wasServing { onEvent(.fenced) }
                } else {
                    state.withLockedValue { $0.fencing.renewed(sentAt: sent, grantedTTL: .seconds(Int64(ttl)), now: now) }
                    if failures > 0 { logger.notice("lease renewed after \(failures) failed attempts") }
                }
                failures = 0
            } catch {
                // The first failure of a run warns; the retries that follow only at debug level.
                failures += 1
                if failures == 1 {
                    logger.warning("lease renewal failed: \(error)")
                } else {
                    logger.debug("lease renewal failed again (\(failures) in a row): \(error)")
                }
                pause = retry
            }
        }
    }

    private func fenceLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            let now = clock.now
            if state.withLockedValue({ $0.fencing.check(now: now) }) {
                logger.error("fencing deadline passed without a lease renewal: this node stops acting as an owner")
                onEvent(.fenced)
            }
        }
    }

    /// A range read, then a watch from the revision after it; when the watch breaks, read again.
    private func watchLoop() async {
        while !Task.isCancelled {
            do {
                let (kvs, revision) = try await etcd.range(prefix: settings.memberPrefix)
                let changes = state.withLockedValue {
                    $0.membership.load(kvs.map { ($0.key, $0.value, $0.createRevision) }, revision: revision)
                }
                report(changes)
                try await etcd.watch(prefix: settings.memberPrefix, startRevision: revision + 1) { [self] events in
                    var changes: [Membership.Change] = []
                    state.withLockedValue { state in
                        for event in events {
                            switch event.kind {
                            case .put:
                                changes += state.membership.put(
                                    key: event.kv.key, value: event.kv.value, createRevision: event.kv.createRevision,
                                    revision: event.kv.modRevision)
                            case .delete:
                                changes += state.membership.delete(key: event.kv.key, revision: event.kv.modRevision)
                            }
                        }
                    }
                    report(changes)
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("membership watch: \(error); reading the members again")
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    private func report(_ changes: [Membership.Change]) {
        for change in changes {
            switch change {
            case .joined(let member):
                logger.notice("member joined", metadata: ["peer": "\(member.name)", "incarnation": "\(member.incarnation)", "advertise": "\(member.advertise)"])
            case .left(let member):
                logger.notice("member left", metadata: ["peer": "\(member.name)", "incarnation": "\(member.incarnation)"])
            case .restarted(let old, let new):
                logger.notice("member restarted", metadata: ["peer": "\(new.name)", "old_incarnation": "\(old.incarnation)", "incarnation": "\(new.incarnation)"])
            }
            onEvent(.change(change))
        }
    }
}
