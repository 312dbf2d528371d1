/// One event loop's cache of subscription matches by topic, valid for one ``SubscriptionTree``
/// version: the tree is shared by every loop, the cache is owned by one, so matching a repeated
/// topic writes nothing shared. Inlinable, so that the broker's cache is specialized for its
/// subscriber type (a generic lookup per publish showed in profiles).
public struct MatchCache<Subscriber: Hashable & Sendable> {
    public typealias Match = SubscriptionTree<Subscriber>.Match

    /// Bound on cached topics; the cache is cleared when it is reached.
    public var limit: Int
    @usableFromInline var version: UInt64?
    @usableFromInline var matches: [String: Match] = [:]

    @inlinable
    public init(limit: Int = 4096) { self.limit = limit }

    /// The matches of `topic` in `tree`, cached until the tree changes.
    @inlinable
    public mutating func match(_ topic: String, in tree: SubscriptionTree<Subscriber>) -> Match {
        if version != tree.version {
            matches.removeAll(keepingCapacity: true)
            version = tree.version
        } else if let cached = matches[topic] {
            return cached
        }
        let result = tree.match(topic: topic)
        if matches.count >= limit { matches.removeAll(keepingCapacity: true) }
        matches[topic] = result
        return result
    }

    /// Topics cached now.
    @inlinable
    public var count: Int { matches.count }
}
