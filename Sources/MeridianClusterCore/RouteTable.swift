import MeridianBrokerCore
import MeridianMQTT

/// One change of a node's routes, as it travels over the inter-node links: which filters the node
/// has local subscribers for. Stamped with the owning node, its incarnation and a sequence number
/// that grows by one per update of that incarnation, so a receiver can tell stale, repeated and
/// missing updates apart.
public struct RouteUpdate: Sendable, Hashable {
    public enum Change: Sendable, Hashable {
        case add(String)
        case remove(String)
        /// Every filter the node has now (sent when a link comes up, or when a gap was seen).
        case snapshot(Set<String>)
    }

    public var node: String
    public var incarnation: Int64
    public var sequence: UInt64
    public var change: Change

    public init(node: String, incarnation: Int64, sequence: UInt64, change: Change) {
        self.node = node
        self.incarnation = incarnation
        self.sequence = sequence
        self.change = change
    }
}

/// The routes of the other nodes: which node wants a published topic (DESIGN.md §8: routes are
/// node-owned and replicated node to node; route churn never goes through etcd).
///
/// Pure: updates and membership changes in, outcomes out. An update of an older incarnation than
/// the one known is ignored; a newer incarnation replaces everything of the old one; an update
/// whose sequence skips ahead means updates were lost, and the sender is asked for a snapshot.
///
/// Matching reuses the broker's ``SubscriptionTree``, whose nodes are shared by copies: keep one
/// table per owner (the cluster service), do not copy it.
public struct RouteTable {
    public enum Outcome: Sendable, Hashable {
        case applied
        /// From an older incarnation, or a sequence already applied: ignored.
        case stale
        /// Updates between the last applied one and this one are missing: ask the node for a snapshot.
        case needsSnapshot
    }

    private struct NodeRoutes: Sendable {
        var incarnation: Int64
        var sequence: UInt64
        var filters: Set<String>
    }

    private var nodes: [String: NodeRoutes] = [:]
    /// Filters by node name, for matching a published topic (`$share` filters match as groups).
    private var tree = SubscriptionTree<String>()

    public init() {}

    /// Routes held, over every node.
    public var count: Int { tree.count }

    public func filters(of node: String) -> Set<String> { nodes[node]?.filters ?? [] }

    public mutating func apply(_ update: RouteUpdate) -> Outcome {
        if let known = nodes[update.node] {
            if update.incarnation < known.incarnation { return .stale }
            if update.incarnation == known.incarnation {
                if update.sequence <= known.sequence { return .stale }
                if update.sequence != known.sequence + 1, !update.change.isSnapshot { return .needsSnapshot }
            } else if !update.change.isSnapshot {
                // A new incarnation starts from nothing: its first update must be a snapshot.
                drop(node: update.node)
                return .needsSnapshot
            }
        } else if !update.change.isSnapshot && update.sequence != 1 {
            return .needsSnapshot
        }
        var routes = nodes[update.node] ?? NodeRoutes(incarnation: update.incarnation, sequence: 0, filters: [])
        if routes.incarnation != update.incarnation {
            drop(node: update.node)
            routes = NodeRoutes(incarnation: update.incarnation, sequence: 0, filters: [])
        }
        switch update.change {
        case .add(let filter):
            if routes.filters.insert(filter).inserted { subscribe(update.node, filter) }
        case .remove(let filter):
            if routes.filters.remove(filter) != nil { tree.unsubscribe(update.node, filter: filter) }
        case .snapshot(let filters):
            for filter in routes.filters.subtracting(filters) { tree.unsubscribe(update.node, filter: filter) }
            for filter in filters.subtracting(routes.filters) { subscribe(update.node, filter) }
            routes.filters = filters
        }
        routes.sequence = update.sequence
        nodes[update.node] = routes
        return .applied
    }

    /// The node left the cluster (its member key went): every route of it goes.
    public mutating func drop(node: String) {
        guard let routes = nodes.removeValue(forKey: node) else { return }
        for filter in routes.filters { tree.unsubscribe(node, filter: filter) }
    }

    /// The nodes that want `topic`: one entry per node, however many of its filters match; a
    /// shared group's nodes are listed with the group, for the caller to pick one member.
    public func nodes(for topic: String) -> (nodes: Set<String>, sharedGroups: [(name: String, nodes: [String])]) {
        let match = tree.match(topic: topic)
        let nodes = Set(match.entries.map(\.subscriber))
        let groups = match.groups.map { group in (group.name, group.members.map(\.subscriber)) }
        return (nodes, groups)
    }

    private mutating func subscribe(_ node: String, _ filter: String) {
        tree.subscribe(node, filter: filter, options: MQTTSubscriptionOptions(qos: .exactlyOnce), identifier: nil)
    }
}

extension RouteUpdate.Change {
    var isSnapshot: Bool {
        if case .snapshot = self { return true }
        return false
    }
}

/// This node's own routes: the filters its local sessions subscribe to, counted, so that an
/// update goes out only when the first subscriber of a filter arrives or the last one leaves.
public struct LocalRoutes: Sendable {
    public let node: String
    public private(set) var incarnation: Int64
    public private(set) var sequence: UInt64 = 0
    private var subscribers: [String: Int] = [:]

    public init(node: String, incarnation: Int64) {
        self.node = node
        self.incarnation = incarnation
    }

    public var filters: Set<String> { Set(subscribers.keys) }

    /// A local session subscribed to `filter` (a repeated SUBSCRIBE of the same session is not counted twice by the caller).
    public mutating func subscribed(_ filter: String) -> RouteUpdate? {
        subscribers[filter, default: 0] += 1
        return subscribers[filter] == 1 ? next(.add(filter)) : nil
    }

    /// A local session's subscription to `filter` ended (unsubscribe, or the session ended).
    public mutating func unsubscribed(_ filter: String) -> RouteUpdate? {
        guard let count = subscribers[filter] else { return nil }
        if count > 1 {
            subscribers[filter] = count - 1
            return nil
        }
        subscribers[filter] = nil
        return next(.remove(filter))
    }

    /// Everything, for a link that just came up or a peer that saw a gap: stamped with the last
    /// sequence, not a new one, so that the peers that got every update see no gap.
    public func snapshot() -> RouteUpdate {
        RouteUpdate(node: node, incarnation: incarnation, sequence: sequence, change: .snapshot(filters))
    }

    /// The node joined again with a new incarnation: its sequence starts over.
    public mutating func rejoined(incarnation: Int64) {
        self.incarnation = incarnation
        sequence = 0
    }

    private mutating func next(_ change: RouteUpdate.Change) -> RouteUpdate {
        sequence += 1
        return RouteUpdate(node: node, incarnation: incarnation, sequence: sequence, change: change)
    }
}
