/// Topic name and topic filter rules (section 4.7).
///
/// Everything here walks the UTF-8 bytes of the strings: no splitting, no allocation.
public enum MQTTTopic {
    private static let slash = UInt8(ascii: "/")
    private static let plus = UInt8(ascii: "+")
    private static let hash = UInt8(ascii: "#")
    private static let dollar = UInt8(ascii: "$")
    /// The UTF-8 bytes of `$share/`.
    static let sharePrefix: StaticString = "$share/"

    /// A valid topic name: non-empty, at most 65,535 UTF-8 bytes, no `+` or `#`, no U+0000.
    public static func isValidName(_ topic: String) -> Bool {
        withUTF8(topic) { bytes in
            guard !bytes.isEmpty, bytes.count <= Int(UInt16.max) else { return false }
            for byte in bytes where byte == plus || byte == hash || byte == 0 { return false }
            return true
        }
    }

    /// The deepest topic name or filter Meridian accepts, in levels: Mosquitto's bound
    /// (`TOPIC_HIERARCHY_LIMIT`). A deeper one is valid MQTT but refused by the broker (PUBLISH,
    /// SUBSCRIBE, will, bridge rule, and state restored from the store), so that no structure
    /// keyed by levels grows with a client-chosen depth (CVE-2019-11779 was that crash in Mosquitto).
    public static let maximumLevels = 200

    /// The number of levels of a topic name or filter: one more than its `/` separators.
    public static func levelCount(_ topic: String) -> Int {
        withUTF8(topic) { bytes in
            var levels = 1
            for byte in bytes where byte == slash { levels += 1 }
            return levels
        }
    }

    /// Whether a topic name or filter is within ``maximumLevels``.
    public static func isWithinLevelLimit(_ topic: String) -> Bool {
        levelCount(topic) <= maximumLevels
    }

    /// A valid topic filter: non-empty, `#` only as the whole last level, `+` only as a whole level.
    /// Shared subscriptions (`$share/group/filter`) are valid when the group has no wildcards or `/`
    /// and the inner filter is valid.
    public static func isValidFilter(_ filter: String) -> Bool {
        withUTF8(filter) { bytes in
            guard bytes.count <= Int(UInt16.max) else { return false }
            guard let inner = sharedFilterRange(bytes) else { return isValidPlainFilter(bytes[...]) }
            // inner.lowerBound is just past `$share/`; the group runs to the next `/`.
            guard let groupEnd = bytes[inner].firstIndex(of: slash), groupEnd > inner.lowerBound else { return false }
            for byte in bytes[inner.lowerBound..<groupEnd] where byte == plus || byte == hash || byte == 0 {
                return false
            }
            return isValidPlainFilter(bytes[(groupEnd + 1)...])
        }
    }

    /// Whether `topic` matches `filter`; topics starting with `$` never match a filter
    /// whose first level is `+` or `#` (section 4.7.2).
    ///
    /// A shared filter (`$share/group/filter`) matches what its inner filter matches.
    public static func matches(filter: String, topic: String) -> Bool {
        withUTF8(filter) { filterBytes in
            withUTF8(topic) { topicBytes in
                var filterStart = 0
                if let inner = sharedFilterRange(filterBytes) {
                    guard let groupEnd = filterBytes[inner].firstIndex(of: slash) else { return false }
                    filterStart = groupEnd + 1
                }
                return matches(
                    filter: UnsafeBufferPointer(rebasing: filterBytes[filterStart...]), topic: topicBytes
                )
            }
        }
    }

    /// Matches level by level. An index one past the end marks "no levels left".
    private static func matches(filter: UnsafeBufferPointer<UInt8>, topic: UnsafeBufferPointer<UInt8>) -> Bool {
        if let first = topic.first, first == dollar, let filterFirst = filter.first,
            filterFirst == plus || filterFirst == hash
        {
            return false
        }
        var f = 0
        var t = 0
        while f <= filter.count {
            let filterEnd = levelEnd(filter, from: f)
            let filterLevelLength = filterEnd - f
            if filterLevelLength == 1 && filter[f] == hash { return true }  // `a/#` matches `a` too
            if t > topic.count { return false }  // filter has more levels than the topic
            let topicEnd = levelEnd(topic, from: t)
            if !(filterLevelLength == 1 && filter[f] == plus) {
                guard filterLevelLength == topicEnd - t else { return false }
                var i = 0
                while i < filterLevelLength {
                    guard filter[f + i] == topic[t + i] else { return false }
                    i += 1
                }
            }
            f = filterEnd + 1
            t = topicEnd + 1
        }
        return t > topic.count
    }

    @inline(__always)
    private static func levelEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < bytes.count && bytes[index] != slash { index += 1 }
        return index
    }

    /// `#` only as a whole last level, `+` only as a whole level, no U+0000, not empty.
    private static func isValidPlainFilter(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        guard !bytes.isEmpty else { return false }
        var levelStart = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            switch byte {
            case 0:
                return false
            case slash:
                levelStart = index + 1
            case plus:
                guard index == levelStart, index + 1 == bytes.endIndex || bytes[index + 1] == slash else { return false }
            case hash:
                guard index == levelStart, index + 1 == bytes.endIndex else { return false }
            default:
                break
            }
            index += 1
        }
        return true
    }

    /// When `bytes` start with `$share/`, the range after that prefix.
    static func sharedFilterRange(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        let prefixLength = sharePrefix.utf8CodeUnitCount
        guard bytes.count >= prefixLength else { return nil }
        let prefix = UnsafeBufferPointer(start: sharePrefix.utf8Start, count: prefixLength)
        guard bytes[..<prefixLength].elementsEqual(prefix) else { return nil }
        return prefixLength..<bytes.count
    }

    @inline(__always)
    static func withUTF8<R>(_ string: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var string = string
        return string.withUTF8(body)
    }
}

/// A parsed `$share/<group>/<filter>` subscription.
public struct MQTTSharedFilter: Hashable, Sendable {
    public var group: String
    public var filter: String

    public init(group: String, filter: String) {
        self.group = group
        self.filter = filter
    }

    /// Returns nil if `filter` does not start with `$share/`. Does not validate: without a
    /// `/` after the group, `filter` is empty.
    public init?(parsing filter: String) {
        let parts: (String, String)? = MQTTTopic.withUTF8(filter) { bytes in
            guard let inner = MQTTTopic.sharedFilterRange(bytes) else { return nil }
            let groupEnd = bytes[inner].firstIndex(of: UInt8(ascii: "/")) ?? bytes.count
            let group = String(decoding: UnsafeBufferPointer(rebasing: bytes[inner.lowerBound..<groupEnd]), as: UTF8.self)
            let rest = groupEnd < bytes.count ? bytes[(groupEnd + 1)...] : bytes[bytes.count...]
            return (group, String(decoding: UnsafeBufferPointer(rebasing: rest), as: UTF8.self))
        }
        guard let parts else { return nil }
        self.group = parts.0
        self.filter = parts.1
    }
}
