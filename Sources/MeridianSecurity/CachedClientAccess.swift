/// ``ClientAccess`` with a small memory of its recent delivery decisions.
///
/// Delivery checks run once per message and subscriber on the routing path, and a device's
/// telemetry repeats a handful of topics, so remembering the last answers makes the steady state a
/// dictionary lookup. The memory is bounded (cleared when full) and goes with the value: an ACL
/// reload builds a new one.
public struct CachedClientAccess: Sendable {
    /// The decisions themselves (subscriptions are judged here, uncached: they are rare).
    public let uncached: ClientAccess
    private var reads: [String: Bool] = [:]
    private var writes: [String: Bool] = [:]
    /// The most decisions remembered per operation.
    public static let capacity = 256

    public init(_ access: ClientAccess) {
        self.uncached = access
    }

    public mutating func allows(_ operation: AccessControlList.Operation, topic: String) -> Bool {
        switch operation {
        case .read: return Self.lookup(&reads, topic) { uncached.allows(.read, topic: topic) }
        case .write: return Self.lookup(&writes, topic) { uncached.allows(.write, topic: topic) }
        }
    }

    private static func lookup(_ cache: inout [String: Bool], _ topic: String, _ decide: () -> Bool) -> Bool {
        if let known = cache[topic] { return known }
        let verdict = decide()
        if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
        cache[topic] = verdict
        return verdict
    }
}
