/// Sessions across nodes (DESIGN.md §8): client identifiers hash to a fixed number of shards, and
/// each shard is owned by one node, which serialises the takeovers of its client ids over the
/// inter-node links. A shard's owner holds a key in etcd, created by compare-and-set under that
/// node's lease; the key's create revision is the shard's epoch. Shards move only when members
/// join or leave, so a reconnect storm costs etcd nothing.
///
/// Pure: which shard a client id is in, which member should own a shard, and what this node
/// claims and releases given the members and the claims it sees.
public enum SessionShards {
    /// Fixed for the life of a cluster: every node must agree on it.
    public static let count = 1_024

    /// The shard of a client identifier (``StableHash``: the same on every node).
    public static func shard(of clientIdentifier: String) -> Int {
        Int(StableHash.fnv1a(clientIdentifier.utf8) % UInt32(count))
    }

    /// The member that should own `shard` (rendezvous hashing: when a member joins or leaves,
    /// only the shards it gains or had move). Nil without members.
    public static func assignee(of shard: Int, among members: some Collection<String>) -> String? {
        // Ties (improbable) go to the name that sorts first, so every node agrees.
        members.lazy.map { (weight: weight(shard, $0), name: $0) }.max { ($0.weight, $1.name) < ($1.weight, $0.name) }?.name
    }

    private static func weight(_ shard: Int, _ member: String) -> UInt32 {
        var hash = StableHash.fnv1a(withUnsafeBytes(of: UInt32(shard).littleEndian, Array.init), from: StableHash.fnv1a(member.utf8))
        // A final mix: FNV's last byte alone decides too little of the order.
        hash ^= hash >> 16
        hash &*= 0x85EB_CA6B
        hash ^= hash >> 13
        return hash
    }

    /// The etcd key of a shard's claim under `prefix` (`<etcd_prefix>/clusters/<cluster>/sessions/shards/`).
    public static func key(of shard: Int, prefix: String) -> String {
        let digits = String(shard)
        return prefix + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The shard a claim key names, or nil for another key.
    public static func shard(ofKey key: String, prefix: String) -> Int? {
        guard key.hasPrefix(prefix), let shard = Int(key.dropFirst(prefix.count)), (0..<count).contains(shard) else { return nil }
        return shard
    }
}

/// The claim of one shard as etcd holds it.
public struct ShardClaim: Sendable, Hashable {
    /// The owning node's name (the key's value).
    public var node: String
    /// The key's create revision: the shard's epoch, new at every claim.
    public var epoch: Int64

    public init(node: String, epoch: Int64) {
        self.node = node
        self.epoch = epoch
    }
}

/// What one node does about shard ownership, from the ready members (``SessionReadiness``) and
/// the claims it sees in etcd.
///
/// A ready node claims the shards assigned to it that nobody holds, and releases those it holds
/// that are now assigned to another ready member (one that joined); a node that is not ready
/// releases every shard it holds; a claim of a node that left goes with its lease. Two nodes never
/// hold one shard: a claim is a create-if-absent, and a release deletes only the key of the epoch
/// it holds.
public struct ShardPlan: Sendable, Equatable {
    public var claim: [Int]
    public var release: [(shard: Int, epoch: Int64)]

    public static func == (lhs: ShardPlan, rhs: ShardPlan) -> Bool {
        lhs.claim == rhs.claim && lhs.release.map(\.shard) == rhs.release.map(\.shard)
            && lhs.release.map(\.epoch) == rhs.release.map(\.epoch)
    }

    public var isEmpty: Bool { claim.isEmpty && release.isEmpty }

    /// - Parameter members: the ready members (this node among them when it is ready).
    public static func plan(node: String, members: Set<String>, claims: [Int: ShardClaim]) -> ShardPlan {
        var plan = ShardPlan(claim: [], release: [])
        guard members.contains(node) else {
            plan.release = claims.filter { $0.value.node == node }.map { ($0.key, $0.value.epoch) }.sorted { $0.0 < $1.0 }
            return plan
        }
        for shard in 0..<SessionShards.count {
            let assignee = SessionShards.assignee(of: shard, among: members)
            switch claims[shard] {
            case nil:
                if assignee == node { plan.claim.append(shard) }
            case let held? where held.node == node:
                if assignee != node { plan.release.append((shard, held.epoch)) }
            case _?:
                break
            }
        }
        return plan
    }
}
