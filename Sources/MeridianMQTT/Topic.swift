/// Topic name and topic filter rules (section 4.7).
public enum MQTTTopic {
    /// A valid topic name: non-empty, at most 65,535 UTF-8 bytes, no `+` or `#`, no U+0000.
    public static func isValidName(_ topic: String) -> Bool { fatalError("unimplemented") }

    /// A valid topic filter: non-empty, `#` only as the whole last level, `+` only as a whole level.
    /// Shared subscriptions (`$share/group/filter`) are valid when the group has no wildcards or `/`
    /// and the inner filter is valid.
    public static func isValidFilter(_ filter: String) -> Bool { fatalError("unimplemented") }

    /// Whether `topic` matches `filter`; topics starting with `$` never match a filter
    /// whose first level is `+` or `#` (section 4.7.2).
    public static func matches(filter: String, topic: String) -> Bool { fatalError("unimplemented") }
}

/// A parsed `$share/<group>/<filter>` subscription.
public struct MQTTSharedFilter: Hashable, Sendable {
    public var group: String
    public var filter: String

    /// Returns nil if `filter` does not start with `$share/`. Does not validate.
    public init?(parsing filter: String) { fatalError("unimplemented") }
}
