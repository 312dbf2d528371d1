import Logging
import MeridianBrokerCore
import MeridianClusterCore
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// The session shards' owners and the ready members as etcd holds them (``SessionShards``,
/// ``SessionReadiness``): a read and a watch of `<cluster>/sessions/`, this node's ready key, and
/// its own claims and releases as ``ShardPlan`` says, each a single compare-and-set transaction
/// (batched) under the node's lease. A claim's create revision is its epoch; the keys of a node
/// whose lease ends go with it, and the shard's new assignee claims it.
public final class ShardClaims: Service, @unchecked Sendable {
    public struct Settings: Sendable {
        public var node: String
        /// `<etcd_prefix>/clusters/<cluster>/sessions/`: `shards/NNNN` and `ready/<node>` below it.
        public var prefix: String

        public init(node: String, prefix: String) {
            self.node = node
            self.prefix = prefix
        }

        var shardPrefix: String { prefix + "shards/" }
        var readyPrefix: String { prefix + "ready/" }
    }

    private struct State {
        var claims: [Int: ShardClaim] = [:]
        /// Nodes holding a ready key.
        var ready: Set<String> = []
        /// Whether `claims` and `ready` reflect a full read (and the watch after it).
        var loaded = false
        /// Shards this node is giving up: it no longer grants takeovers for them.
        var releasing: Set<Int> = []
        /// This node's ready key while it holds one: its create revision and the lease it is under.
        var readyKey: (revision: Int64, lease: Int64)?
        /// The node's lease when `claims` was read: a view from before a lease change proves nothing.
        var viewLease: Int64?
    }

    /// How often the view is read again in full.
    static let refreshInterval = TimeAmount.seconds(10)

    private let settings: Settings
    private let etcd: any EtcdClient
    private let membership: ClusterMembership
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    /// Called with shards this node stops owning (given up, or its lease is gone), before etcd hears of it.
    public var onRelease: @Sendable (Set<Int>) -> Void = { _ in }
    /// Called when this node stops being ready, before its ready key goes: drop the clients.
    public var onStepDown: @Sendable () -> Void = {}
    /// Called when another node's ready key goes: it holds no sessions any more.
    public var onReadyLost: @Sendable (String) -> Void = { _ in }
    /// The inter-node links' states, for readiness.
    var linkStates: @Sendable () -> (up: Set<String>, downSince: [String: NIODeadline]) = { ([], [:]) }
    private let clock: any MonotonicClock

    /// At most this many keys in one transaction (etcd's default `--max-txn-ops` is 128).
    private static let batch = 64

    public init(settings: Settings, etcd: any EtcdClient, membership: ClusterMembership, clock: any MonotonicClock, logger: Logger) {
        self.settings = settings
        self.etcd = etcd
        self.membership = membership
        self.clock = clock
        self.logger = logger
    }

    /// Whether this node takes part in sessions now: it holds its ready key and is within its fencing deadline.
    public var isReady: Bool {
        state.withLockedValue { $0.readyKey != nil && $0.readyKey?.lease == membership.lease } && membership.isServing
    }

    /// The ready members, as etcd says (the nodes a takeover must hear from).
    public var readyMembers: Set<String> {
        let members = Set(membership.members.map(\.name))
        return state.withLockedValue { $0.ready }.intersection(members)
    }

    /// The claim of `shard` as last seen.
    public func claim(of shard: Int) -> ShardClaim? {
        state.withLockedValue { $0.loaded ? $0.claims[shard] : nil }
    }

    /// Whether this node may decide for `shard` at `epoch` now: it holds that claim, is not giving
    /// it up, and is within its fencing deadline.
    public func owns(_ shard: Int, epoch: Int64) -> Bool {
        let lease = membership.lease
        let held = state.withLockedValue { state in
            state.loaded && state.viewLease == lease && state.claims[shard] == ShardClaim(node: settings.node, epoch: epoch)
                && !state.releasing.contains(shard)
        }
        return held && isReady
    }

    /// Shards claimed by each node, for `GET /cluster`.
    public var ownedCounts: [String: Int] {
        state.withLockedValue { state in
            state.claims.values.reduce(into: [:]) { $0[$1.node, default: 0] += 1 }
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.watchLoop() }
                group.addTask { await self.reconcileLoop() }
                await group.waitForAll()
            }
        }
    }

    /// A range read, then a watch from the revision after it; when the watch breaks, read again.
    /// The view is read again, too, when the node's lease changes (what it held under the old one
    /// is gone in etcd, maybe taken by others) and every ``refreshInterval`` (a watch on a connection
    /// that went silent would otherwise go stale without an error).
    private func watchLoop() async {
        while !Task.isCancelled {
            let lease = membership.lease
            do {
                let (kvs, revision) = try await etcd.range(prefix: settings.prefix)
                let lost = state.withLockedValue { state -> Set<String> in
                    let before = state.ready
                    state.claims = [:]
                    state.ready = []
                    for kv in kvs { _ = apply(.put, kv, to: &state) }
                    state.loaded = true
                    state.viewLease = lease
                    return before.subtracting(state.ready)
                }
                for node in lost { onReadyLost(node) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await self.etcd.watch(prefix: self.settings.prefix, startRevision: revision + 1) { [self] events in
                            let lost = state.withLockedValue { state in events.compactMap { apply($0.kind, $0.kv, to: &state) } }
                            for node in lost { onReadyLost(node) }
                        }
                    }
                    group.addTask {
                        let started = self.clock.now
                        while !Task.isCancelled, self.membership.lease == lease, self.clock.now - started < Self.refreshInterval {
                            try await Task.sleep(for: .milliseconds(200))
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
                continue
            } catch {
                if Task.isCancelled { return }
                logger.warning("session shards watch: \(error); reading them again")
            }
            state.withLockedValue { $0.loaded = false }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Applies one key event. - Returns: the node whose ready key went, if this was that.
    private func apply(_ kind: EtcdEvent.Kind, _ kv: EtcdKeyValue, to state: inout State) -> String? {
        if kv.key.hasPrefix(settings.readyPrefix) {
            let node = String(kv.key.dropFirst(settings.readyPrefix.count))
            switch kind {
            case .put: state.ready.insert(node)
            case .delete: if state.ready.remove(node) != nil { return node }
            }
            return nil
        }
        guard let shard = SessionShards.shard(ofKey: kv.key, prefix: settings.shardPrefix) else { return nil }
        switch kind {
        case .put: state.claims[shard] = ShardClaim(node: kv.value, epoch: kv.createRevision)
        case .delete:
            state.claims[shard] = nil
            state.releasing.remove(shard)
        }
        return nil
    }

    /// Every 200 ms, while serving: become ready or step down as ``SessionReadiness`` says; claim
    /// what is assigned to this node and free, give up what is assigned to another ready member.
    private func reconcileLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            guard membership.isServing, let lease = membership.lease, let incarnation = membership.incarnation,
                state.withLockedValue({ $0.loaded && $0.viewLease == lease })
            else { continue }
            await updateReadiness(lease: lease, incarnation: incarnation)
            // This node counts as ready by its own key (etcd's view of it may lag behind a step-down).
            let others = readyMembers.subtracting([settings.node])
            let ready = isReady ? others.union([settings.node]) : others
            let plan = state.withLockedValue { state -> ShardPlan in
                let claims = state.claims.filter { !state.releasing.contains($0.key) }
                return ShardPlan.plan(node: settings.node, members: ready, claims: claims)
            }
            if plan.isEmpty { continue }
            release(plan.release)
            await claim(plan.claim, lease: lease)
        }
    }

    private func updateReadiness(lease: Int64, incarnation: Int64) async {
        let incarnations = Dictionary(membership.members.map { ($0.name, $0.incarnation) }, uniquingKeysWith: { first, _ in first })
        let (readyNames, held) = state.withLockedValue { state -> (Set<String>, (revision: Int64, lease: Int64)?) in
            if let key = state.readyKey, key.lease != lease { state.readyKey = nil }  // made under a lease that is gone
            return (state.ready, state.readyKey)
        }
        let ready = incarnations.filter { readyNames.contains($0.key) }
        let links = linkStates()
        let should = SessionReadiness.shouldBeReady(
            node: settings.node, incarnation: incarnation, isReady: held != nil, ready: ready, linksUp: links.up,
            linkDownSince: links.downSince, now: clock.now)
        let key = settings.readyPrefix + settings.node
        do {
            if should, held == nil {
                if let revision = try await etcd.create(key: key, value: settings.node, lease: lease) {
                    state.withLockedValue { $0.readyKey = (revision, lease) }
                    logger.notice("ready for sessions: linked to every ready member")
                }
            } else if !should, let held {
                // Admissions stop at once; the clients go before the key does, so that no owner skips
                // this node while a connection of it still lives.
                state.withLockedValue { $0.readyKey = nil }
                logger.warning("stepping down from sessions: the link to an older ready member stayed down; clients are sent elsewhere")
                onStepDown()
                try? await Task.sleep(for: .milliseconds(250))
                _ = try await etcd.deleteAll([(key, held.revision)])
            }
        } catch {
            logger.warning("ready key: \(error); tried again")
        }
    }

    private func release(_ shards: [(shard: Int, epoch: Int64)]) {
        guard !shards.isEmpty else { return }
        let set = Set(shards.map(\.shard))
        state.withLockedValue { $0.releasing.formUnion(set) }
        onRelease(set)
        Task { await self.deleteClaims(shards) }
    }

    private func deleteClaims(_ shards: [(shard: Int, epoch: Int64)]) async {
        for start in stride(from: 0, to: shards.count, by: Self.batch) {
            let part = shards[start..<min(start + Self.batch, shards.count)]
            let keys = part.map { (key: SessionShards.key(of: $0.shard, prefix: settings.shardPrefix), createRevision: $0.epoch) }
            do {
                if try await etcd.deleteAll(keys) { continue }
                for key in keys { _ = try await etcd.deleteAll([key]) }  // one had gone already
            } catch {
                logger.warning("shard release failed: \(error); tried again")
                state.withLockedValue { state in for entry in part { state.releasing.remove(entry.shard) } }
            }
        }
        logger.notice("released \(shards.count) session shards")
    }

    private func claim(_ shards: [Int], lease: Int64) async {
        guard !shards.isEmpty else { return }
        var claimed = 0
        for start in stride(from: 0, to: shards.count, by: Self.batch) {
            let part = Array(shards[start..<min(start + Self.batch, shards.count)])
            do {
                if let epoch = try await etcd.createAll(keys: part.map { SessionShards.key(of: $0, prefix: settings.shardPrefix) }, value: settings.node, lease: lease) {
                    record(part, epoch: epoch)
                    claimed += part.count
                    continue
                }
                // One was taken meanwhile: each on its own.
                for shard in part {
                    if let epoch = try await etcd.create(key: SessionShards.key(of: shard, prefix: settings.shardPrefix), value: settings.node, lease: lease) {
                        record([shard], epoch: epoch)
                        claimed += 1
                    }
                }
            } catch {
                logger.warning("shard claim failed: \(error); tried again")
                break
            }
        }
        if claimed > 0 { logger.notice("claimed \(claimed) session shards") }
    }

    /// A claim made: in force at once (the watch brings the same a moment later).
    private func record(_ shards: [Int], epoch: Int64) {
        state.withLockedValue { state in
            for shard in shards where state.claims[shard] == nil { state.claims[shard] = ShardClaim(node: settings.node, epoch: epoch) }
        }
    }
}
