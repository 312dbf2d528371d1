import MeridianMQTT
import NIOCore

/// Retained messages by topic (MQTT 5 section 3.3.1.3): one per topic, replaced by a newer one,
/// deleted by an empty payload, dropped when expired.
///
/// In a cluster every node keeps every topic's value, and the nodes hear of a change in different
/// orders: live, from a queue that waited for a node that was down, or in the full exchange when a
/// link comes up. So each value has a ``RetainedVersion`` and the newer one wins wherever two meet;
/// a clear keeps its version (`keepsClears`), so an older value cannot come back from a node that
/// missed the clear. On the edge a clear just deletes.
public struct RetainedMessages: Sendable {
    /// A topic's value: the message, or nil once cleared (kept only with `keepsClears`).
    public struct Entry: Sendable {
        public var message: BrokerMessage?
        public var version: RetainedVersion

        public init(message: BrokerMessage?, version: RetainedVersion) {
            self.message = message
            self.version = version
        }
    }

    private var entries: [String: Entry] = [:]
    /// Whether a clear (or an expiry) leaves its version behind rather than deleting the topic.
    public let keepsClears: Bool
    /// Topics with a message (clears not counted).
    public private(set) var count = 0

    public init(keepsClears: Bool = false) {
        self.keepsClears = keepsClears
    }

    /// Takes a retained PUBLISH. One published on this node (``BrokerMessage/retainedVersion`` nil) gets
    /// the version `wallTime`/`node`, or one nanosecond after the topic's current version if that is
    /// later (a peer's clock may be ahead: a new PUBLISH here still replaces what is here); the
    /// version is set on `message` for the other nodes. One from another node is taken only if newer.
    /// - Returns: whether the topic's value changed (and so must be stored).
    public mutating func take(_ message: inout BrokerMessage, wallTime: Int64, node: String) -> Bool {
        if let version = message.retainedVersion {
            return merge(message.payload.readableBytes == 0 ? nil : message, topic: message.topic, version: version)
        }
        var version = RetainedVersion(time: wallTime, node: node)
        if let current = entries[message.topic]?.version, current >= version {
            version = RetainedVersion(time: current.time + 1, node: node)
        }
        message.retainedVersion = version
        put(message.payload.readableBytes == 0 ? nil : message, topic: message.topic, version: version)
        return true
    }

    /// A topic's value as another node has it (nil: cleared), taken only if its version is newer
    /// than this node's. - Returns: whether it was taken.
    @discardableResult
    public mutating func merge(_ message: BrokerMessage?, topic: String, version: RetainedVersion) -> Bool {
        if let current = entries[topic]?.version, current >= version { return false }
        var message = message
        message?.retainedVersion = version
        put(message, topic: topic, version: version)
        return true
    }

    /// A value read back from the store at start-up; a row without a version (the edge's, or one
    /// written before versions) counts as older than any other node's.
    public mutating func restore(_ message: BrokerMessage?, topic: String, version: RetainedVersion?) {
        var message = message
        let version = version ?? RetainedVersion(time: 0, node: "")
        message?.retainedVersion = version
        put(message, topic: topic, version: version)
    }

    private mutating func put(_ message: BrokerMessage?, topic: String, version: RetainedVersion) {
        let had = entries[topic]?.message != nil
        if message == nil && !keepsClears {
            entries[topic] = nil
        } else {
            entries[topic] = Entry(message: message, version: version)
        }
        count += (message != nil ? 1 : 0) - (had ? 1 : 0)
    }

    /// The message of `topic`, if it has one (expired or not).
    public func message(topic: String) -> BrokerMessage? { entries[topic]?.message }

    /// Retained messages whose topic matches `filter`, dropping any that expired.
    public mutating func matching(filter: String, now: NIODeadline) -> [BrokerMessage] {
        var result: [BrokerMessage] = []
        var expired: [String] = []
        let isExact = !filter.contains("+") && !filter.contains("#")
        if isExact {
            if let message = entries[filter]?.message {
                if message.isExpired(at: now) { expired.append(filter) } else { result.append(message) }
            }
        } else {
            for (topic, entry) in entries {
                guard let message = entry.message, MQTTTopic.matches(filter: filter, topic: topic) else { continue }
                if message.isExpired(at: now) { expired.append(topic) } else { result.append(message) }
            }
            result.sort { $0.topic < $1.topic }
        }
        for topic in expired { expire(topic) }
        return result
    }

    /// Removes every expired message. - Returns: how many were removed.
    @discardableResult
    public mutating func removeExpired(now: NIODeadline) -> Int {
        let expired = entries.filter { $0.value.message?.isExpired(at: now) == true }.map(\.key)
        for topic in expired { expire(topic) }
        return expired.count
    }

    /// An expired message goes as a clear would, keeping its version: the value it replaced, still
    /// on a node that was away, must not come back in its place.
    private mutating func expire(_ topic: String) {
        guard let version = entries[topic]?.version else { return }
        put(nil, topic: topic, version: version)
    }

    /// Forgets the clears whose version is older than `wallTime` (a node away for longer than that
    /// has lost what waited for it anyway). - Returns: how many were forgotten.
    @discardableResult
    public mutating func removeClears(olderThan wallTime: Int64) -> Int {
        let old = entries.filter { $0.value.message == nil && $0.value.version.time < wallTime }.map(\.key)
        for topic in old { entries[topic] = nil }
        return old.count
    }

    /// Every topic's value and version, clears included, in topic order: what this node tells
    /// another when their link comes up.
    public func snapshot(excludingPrefix prefix: String = "$SYS/") -> [(topic: String, entry: Entry)] {
        entries.filter { !$0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// When a topic's retained value was set, and where: Unix nanoseconds on the node that took the
/// PUBLISH, then that node's name to order two set in the same nanosecond. Newer wins (last writer
/// wins); clocks of a cluster's nodes are assumed to agree to well under the time between two
/// changes of one topic (NTP), and a node never versions a change before the value it replaces.
public struct RetainedVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var time: Int64
    public var node: String

    public init(time: Int64, node: String) {
        self.time = time
        self.node = node
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.time != rhs.time ? lhs.time < rhs.time : lhs.node < rhs.node
    }

    /// `time node`, as it travels between nodes.
    public var description: String { "\(time) \(node)" }

    public init?(_ text: String) {
        guard let space = text.firstIndex(of: " "), let time = Int64(text[..<space]), time >= 0 else { return nil }
        self.init(time: time, node: String(text[text.index(after: space)...]))
    }
}
