import MeridianBrokerCore
import MeridianMQTT
import Testing

@Suite struct SubscriptionTreeTests {
    private func subscribers(_ tree: inout SubscriptionTree<String>, _ topic: String) -> [String] {
        tree.match(topic: topic).entries.map(\.subscriber).sorted()
    }

    @Test func exactPlusAndHashMatch() {
        var tree = SubscriptionTree<String>()
        tree.subscribe("exact", filter: "a/b/c", options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("plus", filter: "a/+/c", options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("hash", filter: "a/#", options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("all", filter: "#", options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("other", filter: "x/y", options: .init(qos: .atMostOnce), identifier: nil)
        do { let result = (subscribers(&tree, "a/b/c") == ["all", "exact", "hash", "plus"]); #expect(result) }
        do { let result = (subscribers(&tree, "a") == ["all", "hash"]); #expect(result) }
        do { let result = (subscribers(&tree, "a/q/c") == ["all", "hash", "plus"]); #expect(result) }
        do { let result = (subscribers(&tree, "a/b/c/d") == ["all", "hash"]); #expect(result) }
        do { let result = (subscribers(&tree, "x/y") == ["all", "other"]); #expect(result) }
    }

    @Test func dollarTopicsSkipLeadingWildcards() {
        var tree = SubscriptionTree<String>()
        tree.subscribe("all", filter: "#", options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("plus", filter: "+/broker/uptime", options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("sys", filter: "$SYS/#", options: .init(qos: .atMostOnce), identifier: nil)
        do { let result = (subscribers(&tree, "$SYS/broker/uptime") == ["sys"]); #expect(result) }
    }

    @Test func emptyLevelsAreLevels() {
        var tree = SubscriptionTree<String>()
        tree.subscribe("s", filter: "a/+/b", options: .init(qos: .atMostOnce), identifier: nil)
        do { let result = (subscribers(&tree, "a//b") == ["s"]); #expect(result) }
        do { let result = (subscribers(&tree, "a/b") == []); #expect(result) }
    }

    @Test func unsubscribeRemovesAndReportsExistence() {
        var tree = SubscriptionTree<String>()
        do { let result = (tree.subscribe("s", filter: "a/#", options: .init(qos: .atLeastOnce), identifier: 7) == false); #expect(result) }
        do { let result = (tree.subscribe("s", filter: "a/#", options: .init(qos: .exactlyOnce), identifier: 8) == true); #expect(result) }
        do { let result = (tree.match(topic: "a/b").entries.first?.options.qos == .exactlyOnce); #expect(result) }
        do { let result = (tree.match(topic: "a/b").entries.first?.identifier == 8); #expect(result) }
        do { let result = (tree.count == 1); #expect(result) }
        do { let result = (tree.unsubscribe("s", filter: "a/#") == true); #expect(result) }
        do { let result = (tree.unsubscribe("s", filter: "a/#") == false); #expect(result) }
        do { let result = (tree.match(topic: "a/b").isEmpty); #expect(result) }
        do { let result = (tree.count == 0); #expect(result) }
    }

    @Test func cacheIsInvalidatedBySubscribe() {
        var tree = SubscriptionTree<String>()
        tree.subscribe("one", filter: "t", options: .init(qos: .atMostOnce), identifier: nil)
        do { let result = (subscribers(&tree, "t") == ["one"]); #expect(result) }
        tree.subscribe("two", filter: "+", options: .init(qos: .atMostOnce), identifier: nil)
        do { let result = (subscribers(&tree, "t") == ["one", "two"]); #expect(result) }
    }

    @Test func sharedGroupRoundRobinPrefersEligibleMembers() {
        var tree = SubscriptionTree<String>()
        for member in ["m1", "m2", "m3"] {
            tree.subscribe(member, filter: "$share/g/jobs/+", options: .init(qos: .atLeastOnce), identifier: nil)
        }
        let match = tree.match(topic: "jobs/1")
        #expect(match.entries.isEmpty)
        #expect(match.groups.count == 1)
        let group = match.groups[0]
        let picks = (0..<6).compactMap { _ in group.next(where: { _ in true })?.subscriber }
        #expect(picks == ["m1", "m2", "m3", "m1", "m2", "m3"])
        let onlineOnly = (0..<3).compactMap { _ in group.next(where: { $0 != "m2" })?.subscriber }
        #expect(!onlineOnly.contains("m2"))
        do { let result = (tree.unsubscribe("m1", filter: "$share/g/jobs/+")); #expect(result) }
        do { let result = (tree.match(topic: "jobs/1").groups[0].members.map(\.subscriber) == ["m2", "m3"]); #expect(result) }
    }

    /// A region node's pick: members on this node first, another node's session when none is
    /// online here. With only acceptable members the picks still alternate (the cursor moves once
    /// per pick), and an offline member is picked when no one is online (its session queues).
    @Test func sharedGroupPrefersLocalMembersThenAcceptableOnesInTurn() {
        var tree = SubscriptionTree<String>()
        for member in ["peer-b", "peer-c", "local", "offline"] {
            tree.subscribe(member, filter: "$share/g/jobs/+", options: .init(qos: .atLeastOnce), identifier: nil)
        }
        let group = tree.match(topic: "jobs/1").groups[0]
        var online: Set<String> = ["peer-b", "peer-c", "local"]
        func pick() -> String? {
            group.next { online.contains($0) ? ($0 == "local" ? .preferred : .acceptable) : .unsuitable }?.subscriber
        }
        #expect((0..<3).map { _ in pick() } == ["local", "local", "local"])
        online.remove("local")
        #expect((0..<4).map { _ in pick() } == ["peer-b", "peer-c", "peer-b", "peer-c"])
        online = []
        let picks = (0..<4).compactMap { _ in pick() }
        #expect(picks.count == 4 && Set(picks).count == 4, "round robin over everyone: \(picks)")
    }

    /// The probe of CVE-2019-11779: a filter of 65,535 `/` (65,536 empty levels). The broker refuses
    /// it (``MQTTTopic/maximumLevels``), but the tree itself must not depend on that bound: every
    /// walk (subscribe, match, unsubscribe, pruning, releasing the tree) is iterative (I9).
    @Test func sixtyFiveThousandLevelsWithoutRecursion() {
        let deep = String(repeating: "/", count: 65_535)
        #expect(MQTTTopic.levelCount(deep) == 65_536)
        #expect(!MQTTTopic.isWithinLevelLimit(deep))
        var tree = SubscriptionTree<String>()
        tree.subscribe("deep", filter: deep, options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("deep-hash", filter: deep + "#", options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("deep-plus", filter: String(repeating: "+/", count: 40_000) + "#", options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("shallow", filter: "#", options: .init(qos: .atMostOnce), identifier: nil)
        do { let result = (subscribers(&tree, deep) == ["deep", "deep-hash", "deep-plus", "shallow"]); #expect(result) }
        do { let result = (subscribers(&tree, "a/b") == ["shallow"]); #expect(result) }
        let fortyThousand = String(repeating: "x/", count: 39_999) + "x"
        do { let result = (subscribers(&tree, fortyThousand) == ["deep-plus", "shallow"]); #expect(result) }
        do { let result = tree.unsubscribe("deep", filter: deep); #expect(result) }
        do { let result = tree.unsubscribe("deep-plus", filter: String(repeating: "+/", count: 40_000) + "#"); #expect(result) }
        do { let result = (subscribers(&tree, deep) == ["deep-hash", "shallow"]); #expect(result) }
        // The tree goes with a 65,537-level chain still in it.
        tree = SubscriptionTree<String>()
        #expect(tree.count == 0)
    }

    @Test func unsubscribePrunesOnlyEmptyNodes() {
        var tree = SubscriptionTree<String>()
        tree.subscribe("ab", filter: "a/b", options: .init(qos: .atMostOnce), identifier: nil)
        tree.subscribe("abcd", filter: "a/b/c/d", options: .init(qos: .atMostOnce), identifier: nil)
        do { let result = tree.unsubscribe("abcd", filter: "a/b/c/d"); #expect(result) }
        do { let result = (subscribers(&tree, "a/b") == ["ab"]); #expect(result) }
        do { let result = !tree.unsubscribe("abcd", filter: "a/b/c/d"); #expect(result) }
        tree.subscribe("abcd", filter: "a/b/c/d", options: .init(qos: .atMostOnce), identifier: nil)
        do { let result = (subscribers(&tree, "a/b/c/d") == ["abcd"]); #expect(result) }
        do { let result = tree.unsubscribe("ab", filter: "a/b"); #expect(result) }
        do { let result = (subscribers(&tree, "a/b/c/d") == ["abcd"]); #expect(result) }
    }
}
