import MeridianBridgeCore
import MeridianMQTT
import Testing

/// One `topic` line and what it maps: a table row.
struct MappingCase: CustomTestStringConvertible, Sendable {
    var pattern: String
    var direction: BridgeDirection
    var local: String
    var remote: String
    var localFilter: String?
    var remoteFilter: String?
    /// (topic on the source side, expected topic on the other side or nil)
    var outgoing: [(String, String?)] = []
    var incoming: [(String, String?)] = []

    var rule: BridgeTopicRule {
        BridgeTopicRule(pattern: pattern, direction: direction, qos: .atLeastOnce, localPrefix: local, remotePrefix: remote)
    }
    var testDescription: String { "topic \"\(pattern)\" \(direction) 1 \"\(local)\" \"\(remote)\"" }
}

@Suite("BridgeTopicMap")
struct BridgeTopicMapTests {
    static let valid: [MappingCase] = [
        // bridge_topic_test.c TEST_remap_valid (direction in), and the same lines outward.
        MappingCase(
            pattern: "pattern", direction: .in, local: "L/", remote: "R/", localFilter: nil, remoteFilter: "R/pattern",
            incoming: [("R/pattern", "L/pattern"), ("pattern", nil), ("R/other", nil)]
        ),
        MappingCase(
            pattern: "pattern", direction: .in, local: "L/", remote: "", localFilter: nil, remoteFilter: "pattern",
            incoming: [("pattern", "L/pattern")]
        ),
        MappingCase(
            pattern: "pattern", direction: .in, local: "", remote: "R/", localFilter: nil, remoteFilter: "R/pattern",
            incoming: [("R/pattern", "pattern")]
        ),
        MappingCase(
            pattern: "pattern", direction: .in, local: "", remote: "", localFilter: nil, remoteFilter: "pattern",
            incoming: [("pattern", "pattern")]
        ),
        MappingCase(
            pattern: "", direction: .in, local: "local", remote: "remote", localFilter: nil, remoteFilter: "remote",
            incoming: [("remote", "local"), ("remote/x", nil), ("local", nil)]
        ),
        MappingCase(
            pattern: "pattern", direction: .out, local: "L/", remote: "R/", localFilter: "L/pattern", remoteFilter: nil,
            outgoing: [("L/pattern", "R/pattern"), ("pattern", nil)]
        ),
        MappingCase(
            pattern: "pattern", direction: .out, local: "L/", remote: "", localFilter: "L/pattern", remoteFilter: nil,
            outgoing: [("L/pattern", "pattern")]
        ),
        MappingCase(
            pattern: "pattern", direction: .out, local: "", remote: "R/", localFilter: "pattern", remoteFilter: nil,
            outgoing: [("pattern", "R/pattern")]
        ),
        MappingCase(
            pattern: "", direction: .out, local: "local", remote: "remote", localFilter: "local", remoteFilter: nil,
            outgoing: [("local", "remote"), ("local/x", nil)]
        ),
        // Wildcards, both directions.
        MappingCase(
            pattern: "sensors/#", direction: .both, local: "site1/", remote: "fleet/edge7/",
            localFilter: "site1/sensors/#", remoteFilter: "fleet/edge7/sensors/#",
            outgoing: [
                ("site1/sensors/t/1", "fleet/edge7/sensors/t/1"), ("site1/sensors", "fleet/edge7/sensors"),
                ("sensors/t", nil), ("site1/other", nil),
            ],
            incoming: [("fleet/edge7/sensors/cmd", "site1/sensors/cmd"), ("fleet/edge8/sensors/cmd", nil)]
        ),
        MappingCase(
            pattern: "+/temp", direction: .both, local: "a/", remote: "b/", localFilter: "a/+/temp", remoteFilter: "b/+/temp",
            outgoing: [("a/k/temp", "b/k/temp"), ("a/k/l/temp", nil)],
            incoming: [("b/x/temp", "a/x/temp")]
        ),
        // Prefixes are concatenated verbatim: no '/' is inserted.
        MappingCase(
            pattern: "temp", direction: .both, local: "local-", remote: "remote-", localFilter: "local-temp",
            remoteFilter: "remote-temp",
            outgoing: [("local-temp", "remote-temp")], incoming: [("remote-temp", "local-temp")]
        ),
        // `#` matches its parent level: Mosquitto removes the prefix only when the topic starts with it.
        MappingCase(
            pattern: "#", direction: .both, local: "L/", remote: "R/", localFilter: "L/#", remoteFilter: "R/#",
            outgoing: [("L/a", "R/a"), ("L", "R/L"), ("L/", "R/")],
            incoming: [("R/a/b", "L/a/b"), ("R", "L/R")]
        ),
        // A rewrite to an empty topic is not forwarded.
        MappingCase(
            pattern: "#", direction: .out, local: "L/", remote: "", localFilter: "L/#", remoteFilter: nil,
            outgoing: [("L/a", "a"), ("L/", nil)]
        ),
        // No prefixes: topics cross unchanged.
        MappingCase(
            pattern: "#", direction: .both, local: "", remote: "", localFilter: "#", remoteFilter: "#",
            outgoing: [("a/b", "a/b"), ("$SYS/x", nil)], incoming: [("c", "c")]
        ),
        // `$` topics only match filters that name them.
        MappingCase(
            pattern: "$SYS/broker/#", direction: .out, local: "", remote: "edges/e1/", localFilter: "$SYS/broker/#",
            remoteFilter: nil, outgoing: [("$SYS/broker/uptime", "edges/e1/$SYS/broker/uptime")]
        ),
        // Non-ASCII prefixes are removed by whole scalars.
        MappingCase(
            pattern: "#", direction: .in, local: "lokal/", remote: "färm/", localFilter: nil, remoteFilter: "färm/#",
            incoming: [("färm/ü", "lokal/ü")]
        ),
    ]

    @Test(arguments: valid)
    func mapsLikeMosquitto(_ row: MappingCase) throws {
        let map = try BridgeTopicMap(rules: [row.rule])
        #expect(map.localSubscriptions.map(\.filter) == (row.localFilter.map { [$0] } ?? []))
        #expect(map.remoteSubscriptions.map(\.filter) == (row.remoteFilter.map { [$0] } ?? []))
        #expect(map.localSubscriptions.allSatisfy { $0.qos == .atLeastOnce })
        for (source, expected) in row.outgoing {
            #expect(map.remote(forLocalTopic: source)?.topic == expected, "out \(source)")
        }
        for (source, expected) in row.incoming {
            #expect(map.local(forRemoteTopic: source)?.topic == expected, "in \(source)")
        }
        // A rule only works in its own direction.
        if row.direction == .in { #expect(row.incoming.allSatisfy { map.remote(forLocalTopic: $0.0) == nil }) }
        if row.direction == .out { #expect(row.outgoing.allSatisfy { map.local(forRemoteTopic: $0.0) == nil }) }
    }

    static let invalid: [(BridgeTopicRule, BridgeTopicError.Code)] = [
        // bridge_topic_test.c TEST_remap_invalid.
        (BridgeTopicRule(pattern: "", direction: .in, localPrefix: "L/"), .emptyPatternNeedsBothPrefixes),
        (BridgeTopicRule(pattern: "", direction: .in, remotePrefix: "R/"), .emptyPatternNeedsBothPrefixes),
        (BridgeTopicRule(pattern: "", direction: .in), .emptyPatternNeedsBothPrefixes),
        (BridgeTopicRule(pattern: "", direction: .out), .emptyPatternNeedsBothPrefixes),
        // Prefixes must be topic names.
        (BridgeTopicRule(pattern: "a", localPrefix: "L/+/"), .invalidLocalPrefix),
        (BridgeTopicRule(pattern: "a", localPrefix: "L/#"), .invalidLocalPrefix),
        (BridgeTopicRule(pattern: "a", remotePrefix: "+"), .invalidRemotePrefix),
        (BridgeTopicRule(pattern: "a", remotePrefix: "R\u{0}"), .invalidRemotePrefix),
        // Prefix + pattern must be a filter: no '/' is inserted.
        (BridgeTopicRule(pattern: "#", localPrefix: "L"), .invalidLocalFilter),
        (BridgeTopicRule(pattern: "+/a", direction: .in, remotePrefix: "R"), .invalidRemoteFilter),
        (BridgeTopicRule(pattern: "a/#/b"), .invalidLocalFilter),
        (BridgeTopicRule(pattern: "a+"), .invalidLocalFilter),
        (BridgeTopicRule(pattern: "$share/g/a/#"), .invalidLocalFilter),
    ]

    @Test(arguments: invalid)
    func refusesLikeMosquitto(_ rule: BridgeTopicRule, _ code: BridgeTopicError.Code) {
        let ok = BridgeTopicRule(pattern: "ok/#")
        #expect {
            _ = try BridgeTopicMap(rules: [ok, rule])
        } throws: { error in
            (error as? BridgeTopicError)?.code == code && (error as? BridgeTopicError)?.ruleIndex == 1
        }
    }

    @Test func firstMatchingRuleWins() throws {
        let map = try BridgeTopicMap(rules: [
            BridgeTopicRule(pattern: "a/b", direction: .both, qos: .exactlyOnce, localPrefix: "", remotePrefix: "first/"),
            BridgeTopicRule(pattern: "a/#", direction: .both, qos: .atLeastOnce, localPrefix: "", remotePrefix: "second/"),
        ])
        #expect(map.remote(forLocalTopic: "a/b")! == ("first/a/b", .exactlyOnce))
        #expect(map.remote(forLocalTopic: "a/c")! == ("second/a/c", .atLeastOnce))
        #expect(map.local(forRemoteTopic: "first/a/b")! == ("a/b", .exactlyOnce))
        #expect(map.local(forRemoteTopic: "second/a/b")! == ("a/b", .atLeastOnce))
    }

    @Test func aPrefixedRuleDecidesBeforeAnUnprefixedOne() throws {
        // Mosquitto's remap loop skips rules without prefixes.
        let map = try BridgeTopicMap(rules: [
            BridgeTopicRule(pattern: "#", direction: .out, qos: .atMostOnce),
            BridgeTopicRule(pattern: "x/#", direction: .out, qos: .atLeastOnce, localPrefix: "", remotePrefix: "up/"),
        ])
        #expect(map.remote(forLocalTopic: "x/1")! == ("up/x/1", .atLeastOnce))
        #expect(map.remote(forLocalTopic: "y/1")! == ("y/1", .atMostOnce))
    }

    @Test func subscriptionsPerSide() throws {
        let map = try BridgeTopicMap(rules: [
            BridgeTopicRule(pattern: "up/#", direction: .out, qos: .atLeastOnce),
            BridgeTopicRule(pattern: "down/#", direction: .in, qos: .exactlyOnce, localPrefix: "cloud/", remotePrefix: "e1/"),
            BridgeTopicRule(pattern: "both/+", direction: .both, qos: .atMostOnce, localPrefix: "L/", remotePrefix: "R/"),
            // Identical rule: kept once.
            BridgeTopicRule(pattern: "up/#", direction: .out, qos: .atLeastOnce),
            // Same local filter, higher QoS: one subscription at the higher QoS.
            BridgeTopicRule(pattern: "up/#", direction: .out, qos: .exactlyOnce, localPrefix: "", remotePrefix: "hi/"),
        ])
        #expect(map.rules.count == 4)
        #expect(map.localSubscriptions.map(\.filter) == ["up/#", "L/both/+"])
        #expect(map.localSubscriptions.map(\.qos) == [.exactlyOnce, .atMostOnce])
        #expect(map.remoteSubscriptions.map(\.filter) == ["e1/down/#", "R/both/+"])
        #expect(map.remoteSubscriptions.map(\.qos) == [.exactlyOnce, .atMostOnce])
    }

    @Test func noRulesMapNothing() throws {
        let map = try BridgeTopicMap(rules: [])
        #expect(map.localSubscriptions.isEmpty && map.remoteSubscriptions.isEmpty)
        #expect(map.remote(forLocalTopic: "a") == nil)
        #expect(map.local(forRemoteTopic: "a") == nil)
    }
}
