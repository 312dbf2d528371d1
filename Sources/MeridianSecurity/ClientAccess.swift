import MeridianMQTT

/// The ACL as it applies to one client: its own rules and the patterns with `%c` and `%u`
/// substituted once, so that each decision is a scan of a short list with no allocation.
///
/// Decisions are mosquitto 2.0's default ACL check (`mosquitto_acl_check_default`):
/// 1. the client's rules (its `user` section, or the anonymous section without a username):
///    a matching `deny` refuses; else a matching rule granting the operation allows;
/// 2. if the file has patterns and the username or client id contains `+` or `#`, refused
///    (such an identity could widen a pattern into a wildcard: CVE-2017-7650), or `/` (Meridian's
///    addition: client id `dev-b/x` would turn `clients/%c/#` into a corner of dev-b's space);
/// 3. the patterns, the same way (patterns with `%u` do not apply to clients without a username);
/// 4. otherwise refused: with an ACL file, what is not granted is denied.
///
/// Matching is MQTT's: a rule is a topic filter, and a `$` topic is only matched by a rule whose
/// first level is literal (`$SYS/#`), never by `#` or `+/...`.
///
/// Subscriptions are Meridian's stricter addition (mosquitto 2.0 grants any subscription and only
/// filters delivery): a filter is granted when a rule granting read *covers* it, that is matches
/// every topic the filter can match, and refused when a `deny` rule covers it. A filter that only
/// overlaps a deny is granted, and delivery filters it.
public struct ClientAccess: Sendable {
    private struct Section: Sendable {
        var denies: [String] = []
        var grants: [(topic: String, access: AccessControlList.Access)] = []
    }

    private let own: Section
    private let patterns: Section?
    private let dangerousIdentity: Bool

    public init(acl: AccessControlList, username: String?, clientIdentifier: String) {
        let ownRules = username.map { acl.userRules[$0] ?? [] } ?? acl.anonymousRules
        own = Self.section(ownRules)
        if acl.patterns.isEmpty {
            patterns = nil
            dangerousIdentity = false
        } else {
            let applicable = acl.patterns.compactMap { rule -> AccessControlList.Rule? in
                if username == nil && rule.topic.contains("%u") { return nil }
                var rule = rule
                rule.topic = Self.substitute(rule.topic, clientIdentifier: clientIdentifier, username: username ?? "")
                return rule
            }
            patterns = Self.section(applicable)
            let wild: (Character) -> Bool = { $0 == "+" || $0 == "#" || $0 == "/" }
            dangerousIdentity = clientIdentifier.contains(where: wild) || (username?.contains(where: wild) ?? false)
        }
    }

    private static func section(_ rules: [AccessControlList.Rule]) -> Section {
        var section = Section()
        for rule in rules {
            if rule.access == .deny { section.denies.append(rule.topic) } else { section.grants.append((rule.topic, rule.access)) }
        }
        return section
    }

    /// Replaces every `%c` and `%u` of a pattern, anywhere in it, as mosquitto does.
    static func substitute(_ pattern: String, clientIdentifier: String, username: String) -> String {
        guard pattern.contains("%") else { return pattern }
        var result = ""
        var iterator = pattern.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else { result.append(character); continue }
            switch iterator.next() {
            case "c": result += clientIdentifier
            case "u": result += username
            case let other?: result.append("%"); result.append(other)
            case nil: result.append("%")
            }
        }
        return result
    }

    /// Whether the client may publish to (`write`) or receive (`read`) `topic`.
    public func allows(_ operation: AccessControlList.Operation, topic: String) -> Bool {
        decide { rule in
            MQTTTopic.matches(filter: rule, topic: topic)
        } grants: {
            $0.grants(operation)
        }
    }

    /// Whether the client may subscribe to `filter` (a shared filter is judged by its inner filter).
    public func allowsSubscription(to filter: String) -> Bool {
        let inner = MQTTSharedFilter(parsing: filter)?.filter ?? filter
        return decide { rule in
            Self.covers(rule: rule, filter: inner)
        } grants: {
            $0.grants(.read)
        }
    }

    private func decide(_ applies: (String) -> Bool, grants: (AccessControlList.Access) -> Bool) -> Bool {
        if let verdict = Self.verdict(own, applies, grants) { return verdict }
        guard let patterns else { return false }
        if dangerousIdentity { return false }
        return Self.verdict(patterns, applies, grants) ?? false
    }

    private static func verdict(
        _ section: Section, _ applies: (String) -> Bool, _ grants: (AccessControlList.Access) -> Bool
    ) -> Bool? {
        for topic in section.denies where applies(topic) { return false }
        for (topic, access) in section.grants where grants(access) && applies(topic) { return true }
        return nil
    }

    /// Whether `rule` matches every topic that `filter` can match.
    static func covers(rule: String, filter: String) -> Bool {
        let ruleLevels = rule.split(separator: "/", omittingEmptySubsequences: false)
        let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        // A literal `$` first level is not matched by a wildcard first level (MQTT 4.7.2).
        if let first = filterLevels.first, first.hasPrefix("$"), let ruleFirst = ruleLevels.first,
            ruleFirst == "#" || ruleFirst == "+"
        {
            return false
        }
        var index = 0
        while true {
            if index == ruleLevels.count { return index == filterLevels.count }
            let ruleLevel = ruleLevels[index]
            if ruleLevel == "#" { return true }
            if index == filterLevels.count { return false }
            let filterLevel = filterLevels[index]
            if filterLevel == "#" { return false }
            if ruleLevel != "+" && (filterLevel == "+" || filterLevel != ruleLevel) { return false }
            index += 1
        }
    }
}
