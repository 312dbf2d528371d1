import MeridianMQTT

/// One subscription of one subscriber to one filter.
public struct SubscriptionEntry<Subscriber: Hashable>: Sendable where Subscriber: Sendable {
    public var subscriber: Subscriber
    public var options: MQTTSubscriptionOptions
    /// MQTT 5 Subscription Identifier, if the SUBSCRIBE carried one.
    public var identifier: UInt32?

    public init(subscriber: Subscriber, options: MQTTSubscriptionOptions, identifier: UInt32?) {
        self.subscriber = subscriber
        self.options = options
        self.identifier = identifier
    }
}

/// The members of one `$share/<group>/<filter>` subscription; each message goes to one of them.
public final class SharedGroup<Subscriber: Hashable & Sendable> {
    public let name: String
    public internal(set) var members: [SubscriptionEntry<Subscriber>] = []
    var cursor = 0

    init(name: String) { self.name = name }

    /// How a member stands for the message being placed.
    public enum Choice: Sendable {
        case preferred
        case acceptable
        case unsuitable
    }

    /// Picks the next member in round-robin order, preferring one for which `isEligible` is true.
    public func next(where isEligible: (Subscriber) -> Bool) -> SubscriptionEntry<Subscriber>? {
        next { isEligible($0) ? .preferred : .unsuitable }
    }

    /// Picks the next member in round-robin order that `choice` calls preferred; when none is, the
    /// next acceptable one; when none is either, the member at the cursor. One pass over the
    /// members, one call of `choice` for each at most, and the cursor moves once, past the member picked.
    public func next(choosing choice: (Subscriber) -> Choice) -> SubscriptionEntry<Subscriber>? {
        guard !members.isEmpty else { return nil }
        var fallback: Int?
        for step in 0..<members.count {
            let index = (cursor + step) % members.count
            switch choice(members[index].subscriber) {
            case .preferred:
                cursor = (index + 1) % members.count
                return members[index]
            case .acceptable:
                if fallback == nil { fallback = index }
            case .unsuitable:
                break
            }
        }
        let index = fallback ?? cursor % members.count
        cursor = (index + 1) % members.count
        return members[index]
    }
}

/// A topic trie of subscriptions with `+`, `#` and `$share` groups (MQTT 5 section 4.7, 4.8.2).
///
/// Matching walks one level at a time and changes nothing, so several event loops may match at
/// once under a shared read lock; each caches its results for the tree's ``version``
/// (``MatchCache``), since telemetry topics repeat.
public struct SubscriptionTree<Subscriber: Hashable & Sendable> {
    final class Node {
        var children: [Substring: Node] = [:]
        var plus: Node?
        var hash: Node?
        var entries: [Subscriber: SubscriptionEntry<Subscriber>] = [:]
        var shared: [String: SharedGroup<Subscriber>] = [:]

        var isEmpty: Bool {
            children.isEmpty && plus == nil && hash == nil && entries.isEmpty && shared.isEmpty
        }

        /// Releases the descendants one at a time: left to the runtime, releasing a chain of nodes
        /// is one nested call per level, and 65,536 levels overflow a thread's stack (invariant I9).
        deinit {
            guard !(children.isEmpty && plus == nil && hash == nil) else { return }
            var doomed: [Node] = []
            detachChildren(into: &doomed)
            while let node = doomed.popLast() {
                node.detachChildren(into: &doomed)
                // `node` is released here with no children left: its own deinit returns at once.
            }
        }

        private func detachChildren(into doomed: inout [Node]) {
            doomed.append(contentsOf: children.values)
            children.removeAll()
            if let plus { doomed.append(plus) }
            if let hash { doomed.append(hash) }
            plus = nil
            hash = nil
        }

        func child(at level: Substring) -> Node? {
            switch level {
            case "+": return plus
            case "#": return hash
            default: return children[level]
            }
        }

        func removeChild(at level: Substring) {
            switch level {
            case "+": plus = nil
            case "#": hash = nil
            default: children[level] = nil
            }
        }
    }

    /// What a topic matched: ordinary subscriptions and the shared groups to choose from.
    public struct Match {
        public var entries: [SubscriptionEntry<Subscriber>] = []
        public var groups: [SharedGroup<Subscriber>] = []
        public var isEmpty: Bool { entries.isEmpty && groups.isEmpty }
    }

    private var root = Node()
    public private(set) var count = 0
    /// Changes with every subscribe and unsubscribe: a match cached for an older version is stale.
    public private(set) var version: UInt64 = 0

    public init() {}

    /// Adds or replaces `subscriber`'s subscription to `filter` (which may be `$share/g/f`).
    /// - Returns: true if the subscription already existed (for Retain Handling 1).
    @discardableResult
    public mutating func subscribe(
        _ subscriber: Subscriber, filter: String, options: MQTTSubscriptionOptions, identifier: UInt32?
    ) -> Bool {
        version &+= 1
        let entry = SubscriptionEntry(subscriber: subscriber, options: options, identifier: identifier)
        if let shared = MQTTSharedFilter(parsing: filter) {
            let node = Self.node(for: shared.filter, from: root, create: true)!
            let group = node.shared[shared.group] ?? SharedGroup(name: shared.group)
            node.shared[shared.group] = group
            if let index = group.members.firstIndex(where: { $0.subscriber == subscriber }) {
                group.members[index] = entry
                return true
            }
            group.members.append(entry)
            count += 1
            return false
        }
        let node = Self.node(for: filter, from: root, create: true)!
        let existed = node.entries.updateValue(entry, forKey: subscriber) != nil
        if !existed { count += 1 }
        return existed
    }

    /// Removes `subscriber`'s subscription to `filter`. - Returns: whether it existed.
    @discardableResult
    public mutating func unsubscribe(_ subscriber: Subscriber, filter: String) -> Bool {
        version &+= 1
        var removed = false
        if let shared = MQTTSharedFilter(parsing: filter) {
            if let node = Self.node(for: shared.filter, from: root, create: false),
               let group = node.shared[shared.group],
               let index = group.members.firstIndex(where: { $0.subscriber == subscriber }) {
                group.members.remove(at: index)
                if group.members.isEmpty { node.shared[shared.group] = nil }
                removed = true
            }
            if removed { Self.prune(root, filter: shared.filter) }
        } else {
            if let node = Self.node(for: filter, from: root, create: false) {
                removed = node.entries.removeValue(forKey: subscriber) != nil
            }
            if removed { Self.prune(root, filter: filter) }
        }
        if removed { count -= 1 }
        return removed
    }

    /// All matches for a published topic.
    public func match(topic: String) -> Match {
        var result = Match()
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        let dollar = topic.utf8.first == UInt8(ascii: "$")
        Self.collect(root, levels: levels, dollar: dollar, into: &result)
        return result
    }

    /// Walks the trie depth first with an explicit stack (no recursion: the depth is the client's).
    /// The exact child is visited before `+`, as a recursive walk would.
    private static func collect(_ root: Node, levels: [Substring], dollar: Bool, into result: inout Match) {
        var pending: [(node: Node, depth: Int)] = [(root, 0)]
        while let (node, depth) = pending.popLast() {
            // A `$` topic is not matched by a wildcard at its first level (4.7.2).
            let wildcardsAllowed = !(depth == 0 && dollar)
            if wildcardsAllowed, let hash = node.hash {
                append(hash, to: &result)
            }
            guard depth < levels.count else {
                append(node, to: &result)
                continue
            }
            if wildcardsAllowed, let plus = node.plus {
                pending.append((plus, depth + 1))
            }
            if let child = node.children[levels[depth]] {
                pending.append((child, depth + 1))
            }
        }
    }

    private static func append(_ node: Node, to result: inout Match) {
        if !node.entries.isEmpty { result.entries.append(contentsOf: node.entries.values) }
        if !node.shared.isEmpty { result.groups.append(contentsOf: node.shared.values) }
    }

    private static func node(for filter: String, from root: Node, create: Bool) -> Node? {
        var node = root
        for level in filter.split(separator: "/", omittingEmptySubsequences: false) {
            let next: Node?
            switch level {
            case "+":
                if node.plus == nil, create { node.plus = Node() }
                next = node.plus
            case "#":
                if node.hash == nil, create { node.hash = Node() }
                next = node.hash
            default:
                if node.children[level] == nil, create { node.children[level] = Node() }
                next = node.children[level]
            }
            guard let next else { return nil }
            node = next
        }
        return node
    }

    /// Removes the empty nodes along the path of `filter`, deepest first, without recursion.
    private static func prune(_ root: Node, filter: String) {
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        var path: [Node] = [root]
        for level in levels {
            guard let next = path[path.count - 1].child(at: level) else { break }
            path.append(next)
        }
        // path[i] is the node reached by levels[..<i]; an empty node's parent drops it.
        var index = path.count - 1
        while index > 0 && path[index].isEmpty {
            path[index - 1].removeChild(at: levels[index - 1])
            index -= 1
        }
    }
}
