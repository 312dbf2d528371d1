import NIOCore

/// Which members take part in sessions: the *ready* ones, each holding a ready key in etcd under
/// its lease. Shards are assigned among ready members only, and a shard's owner asks only ready
/// members to end their sessions; a member that is not ready serves no clients. A node becomes
/// ready once it has an open link to every ready member, so a node that cannot link (a wrong
/// `cluster_secret`, a firewall) never gets shards and never stands in the way of a takeover. Two
/// ready members whose link stays down settle it by age: the newer one (higher incarnation) steps
/// down after ``stepDownAfter`` — it drops its clients first, then its ready key.
///
/// Pure: the ready members seen in etcd, this node's links and the time in; the verdict out.
public enum SessionReadiness {
    /// How long a link to an older ready member may stay down before this node steps down (link
    /// silence is detected after 5 s; a reconnect within this does not make nodes flap).
    public static let stepDownAfter = TimeAmount.seconds(6)

    /// Whether `node` (of `incarnation`) should be ready now.
    /// - Parameters:
    ///   - ready: the ready members in etcd, by name, with their incarnations (this node's included when it is).
    ///   - linksUp: the members this node has an open link to.
    ///   - linkDownSince: when each link that is not up went down (or was first wanted); a member
    ///     missing here and from `linksUp` counts as down since `now`.
    public static func shouldBeReady(
        node: String, incarnation: Int64, isReady: Bool, ready: [String: Int64], linksUp: Set<String>,
        linkDownSince: [String: NIODeadline], now: NIODeadline
    ) -> Bool {
        let others = ready.filter { $0.key != node }
        guard isReady else { return others.keys.allSatisfy(linksUp.contains) }
        for (peer, peerIncarnation) in others where peerIncarnation < incarnation && !linksUp.contains(peer) {
            if now - (linkDownSince[peer] ?? now) >= stepDownAfter { return false }
        }
        return true
    }
}
