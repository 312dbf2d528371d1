import MeridianBrokerCore
import MeridianMQTT
import Testing

/// A loop's match cache over the shared tree: hits while the tree is unchanged, never stale after a change.
@Suite struct MatchCacheTests {
    private func subscribers(_ cache: inout MatchCache<String>, _ topic: String, _ tree: SubscriptionTree<String>) -> [String] {
        cache.match(topic, in: tree).entries.map(\.subscriber).sorted()
    }

    @Test func aChangeOfTheTreeInvalidatesEveryCachedTopic() {
        var tree = SubscriptionTree<String>()
        var cache = MatchCache<String>()
        tree.subscribe("a", filter: "t/#", options: .init(qos: .atMostOnce), identifier: nil)
        #expect(subscribers(&cache, "t/1", tree) == ["a"])
        #expect(subscribers(&cache, "t/2", tree) == ["a"])
        #expect(cache.count == 2)
        tree.subscribe("b", filter: "t/1", options: .init(qos: .atMostOnce), identifier: nil)
        #expect(subscribers(&cache, "t/1", tree) == ["a", "b"])
        #expect(cache.count == 1)
        tree.unsubscribe("a", filter: "t/#")
        #expect(subscribers(&cache, "t/1", tree) == ["b"])
        #expect(subscribers(&cache, "t/2", tree) == [])
    }

    @Test func twoLoopsCacheTheSameTreeIndependently() {
        var tree = SubscriptionTree<String>()
        var first = MatchCache<String>()
        var second = MatchCache<String>()
        tree.subscribe("a", filter: "x", options: .init(qos: .atMostOnce), identifier: nil)
        #expect(subscribers(&first, "x", tree) == ["a"])
        tree.subscribe("b", filter: "x", options: .init(qos: .atMostOnce), identifier: nil)
        #expect(subscribers(&second, "x", tree) == ["a", "b"])
        #expect(subscribers(&first, "x", tree) == ["a", "b"])
    }

    @Test func theBoundClearsTheCache() {
        var tree = SubscriptionTree<String>()
        var cache = MatchCache<String>(limit: 3)
        tree.subscribe("a", filter: "#", options: .init(qos: .atMostOnce), identifier: nil)
        for topic in ["1", "2", "3"] { _ = cache.match(topic, in: tree) }
        #expect(cache.count == 3)
        _ = cache.match("4", in: tree)
        #expect(cache.count == 1)
    }
}
