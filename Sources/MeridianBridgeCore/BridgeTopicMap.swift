import MeridianMQTT

/// Why a bridge `topic` rule was refused.
public struct BridgeTopicError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// A prefix contains a wildcard or U+0000 (Mosquitto: "Invalid bridge topic local prefix").
        case invalidLocalPrefix
        case invalidRemotePrefix
        /// Pattern `""` without both prefixes (Mosquitto: "Invalid bridge remapping").
        case emptyPatternNeedsBothPrefixes
        /// `localPrefix + pattern` is not a valid topic filter.
        case invalidLocalFilter
        /// `remotePrefix + pattern` is not a valid topic filter.
        case invalidRemoteFilter
    }

    public var code: Code
    /// The index of the offending rule in the `rules` passed to ``BridgeTopicMap/init(rules:)``.
    public var ruleIndex: Int
    public var detail: String

    public init(_ code: Code, ruleIndex: Int, _ detail: String) {
        self.code = code
        self.ruleIndex = ruleIndex
        self.detail = detail
    }

    public var description: String { "topic rule \(ruleIndex + 1): \(detail)" }
}

/// The `topic` rules of one bridge, compiled: which filters to subscribe to on each side and how
/// a topic is rewritten when it crosses the bridge. Pure, with Mosquitto's semantics
/// (`src/bridge_topic.c`, `bridge__remap_topic_in`, and the outgoing remap in `send__publish`):
///
/// - An `out`/`both` rule subscribes locally to `localPrefix + pattern`; a local message on `T`
///   that matches goes to `remotePrefix + (T without localPrefix)`.
/// - An `in`/`both` rule subscribes remotely to `remotePrefix + pattern`; a remote message on `T`
///   that matches arrives locally on `localPrefix + (T without remotePrefix)`.
/// - Prefixes are concatenated verbatim: `topic a/# out 0 L R` subscribes to `La/#`. An empty
///   prefix means "no prefix" (Mosquitto's `""`).
/// - Pattern `""` needs both prefixes; each prefix is then a whole topic (`topic "" in 0 local remote`
///   maps exactly `remote` to `local`).
/// - As in Mosquitto, the first matching rule *with a prefix* decides the rewrite; a rule without
///   prefixes maps a topic to itself, so it only decides when no prefixed rule matches. (Mosquitto
///   skips unprefixed rules in its remap loop.)
/// - As in Mosquitto, the prefix is removed only when the topic starts with it: `L/#` also matches
///   `L`, which is carried over unchanged apart from the other side's prefix.
/// - A rewrite that yields an invalid topic name (empty, too long) is not forwarded (`nil`), as
///   Mosquitto swallows such messages.
/// - Identical rules are kept once (Mosquitto: "Duplicate bridge topic, skipping").
public struct BridgeTopicMap: Sendable, Equatable {
    struct CompiledRule: Sendable, Equatable {
        var rule: BridgeTopicRule
        var localFilter: String
        var remoteFilter: String
        var hasPrefix: Bool { !rule.localPrefix.isEmpty || !rule.remotePrefix.isEmpty }
    }

    private(set) var compiled: [CompiledRule]

    /// The rules as given, without duplicates.
    public var rules: [BridgeTopicRule] { compiled.map(\.rule) }

    public init(rules: [BridgeTopicRule]) throws(BridgeTopicError) {
        var compiled: [CompiledRule] = []
        for (index, rule) in rules.enumerated() {
            let entry = try Self.compile(rule, index: index)
            if !compiled.contains(entry) { compiled.append(entry) }
        }
        self.compiled = compiled
    }

    private static func compile(_ rule: BridgeTopicRule, index: Int) throws(BridgeTopicError) -> CompiledRule {
        if !rule.localPrefix.isEmpty && !MQTTTopic.isValidName(rule.localPrefix) {
            throw BridgeTopicError(.invalidLocalPrefix, ruleIndex: index, "invalid local prefix '\(rule.localPrefix)'")
        }
        if !rule.remotePrefix.isEmpty && !MQTTTopic.isValidName(rule.remotePrefix) {
            throw BridgeTopicError(.invalidRemotePrefix, ruleIndex: index, "invalid remote prefix '\(rule.remotePrefix)'")
        }
        if rule.pattern.isEmpty && (rule.localPrefix.isEmpty || rule.remotePrefix.isEmpty) {
            throw BridgeTopicError(
                .emptyPatternNeedsBothPrefixes, ruleIndex: index,
                "an empty pattern needs both a local and a remote prefix"
            )
        }
        let localFilter = rule.localPrefix + rule.pattern
        let remoteFilter = rule.remotePrefix + rule.pattern
        if !isUsableFilter(localFilter) {
            throw BridgeTopicError(
                .invalidLocalFilter, ruleIndex: index, "invalid local prefix and pattern combination '\(localFilter)'"
            )
        }
        if !isUsableFilter(remoteFilter) {
            throw BridgeTopicError(
                .invalidRemoteFilter, ruleIndex: index, "invalid remote prefix and pattern combination '\(remoteFilter)'"
            )
        }
        return CompiledRule(rule: rule, localFilter: localFilter, remoteFilter: remoteFilter)
    }

    /// A valid, non-shared filter: a `$share/` filter cannot be remapped by prefix.
    private static func isUsableFilter(_ filter: String) -> Bool {
        MQTTTopic.isValidFilter(filter) && MQTTSharedFilter(parsing: filter) == nil
    }

    /// What the bridge subscribes to on the local broker (`out` and `both` rules), in rule order,
    /// one entry per filter; a filter named by several rules gets the highest of their QoS.
    public var localSubscriptions: [(filter: String, qos: MQTTQoS)] {
        Self.subscriptions(compiled.lazy.filter { $0.rule.direction != .in }.map { ($0.localFilter, $0.rule.qos) })
    }

    /// What the bridge subscribes to on the remote broker (`in` and `both` rules).
    public var remoteSubscriptions: [(filter: String, qos: MQTTQoS)] {
        Self.subscriptions(compiled.lazy.filter { $0.rule.direction != .out }.map { ($0.remoteFilter, $0.rule.qos) })
    }

    private static func subscriptions(_ entries: some Sequence<(String, MQTTQoS)>) -> [(filter: String, qos: MQTTQoS)] {
        var result: [(filter: String, qos: MQTTQoS)] = []
        for (filter, qos) in entries {
            if let index = result.firstIndex(where: { $0.filter == filter }) {
                result[index].qos = max(result[index].qos, qos)
            } else {
                result.append((filter, qos))
            }
        }
        return result
    }

    /// Where a local message on `topic` goes on the remote broker, and the QoS of the rule that
    /// carries it (the message goes at the lower of its own QoS and this one); `nil` when no
    /// `out`/`both` rule matches.
    public func remote(forLocalTopic topic: String) -> (topic: String, qos: MQTTQoS)? {
        guard let rule = firstMatch(for: topic, outgoing: true) else { return nil }
        return Self.remap(topic, removing: rule.rule.localPrefix, adding: rule.rule.remotePrefix).map { ($0, rule.rule.qos) }
    }

    /// Where a remote message on `topic` goes on the local broker; `nil` when no `in`/`both` rule
    /// matches.
    public func local(forRemoteTopic topic: String) -> (topic: String, qos: MQTTQoS)? {
        guard let rule = firstMatch(for: topic, outgoing: false) else { return nil }
        return Self.remap(topic, removing: rule.rule.remotePrefix, adding: rule.rule.localPrefix).map { ($0, rule.rule.qos) }
    }

    private func firstMatch(for topic: String, outgoing: Bool) -> CompiledRule? {
        var unprefixed: CompiledRule?
        for entry in compiled {
            guard entry.rule.direction != (outgoing ? .in : .out) else { continue }
            let filter = outgoing ? entry.localFilter : entry.remoteFilter
            guard MQTTTopic.matches(filter: filter, topic: topic) else { continue }
            if entry.hasPrefix { return entry }
            if unprefixed == nil { unprefixed = entry }
        }
        return unprefixed
    }

    private static func remap(_ topic: String, removing prefix: String, adding newPrefix: String) -> String? {
        var rest = Substring(topic)
        if !prefix.isEmpty && topic.utf8.starts(with: prefix.utf8) {
            // The prefix is whole UTF-8 scalars, so this index is a scalar boundary.
            rest = Substring(topic.utf8.dropFirst(prefix.utf8.count))
        }
        let mapped = newPrefix + rest
        return MQTTTopic.isValidName(mapped) ? mapped : nil
    }
}
