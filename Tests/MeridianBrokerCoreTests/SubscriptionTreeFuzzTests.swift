import MeridianBrokerCore
import MeridianMQTT
import MeridianTestSupport
import Testing

/// Randomised subscribe / unsubscribe / match sequences against a reference model (every
/// subscription checked with `MQTTTopic.matches`), with the CVE-2019-11779 probe (65,536 empty
/// levels) and filters just over the 200-level bound mixed in. Deterministic: a fixed seed and
/// a fixed number of operations.
@Suite struct SubscriptionTreeFuzzTests {
    static let probe = String(repeating: "/", count: 65_535)
    static let overBound = String(repeating: "a/", count: 200) + "#"

    static func filter(_ rng: inout SplitMix64) -> String {
        switch rng.below(80) {
        case 0: return probe
        case 1: return probe + "#"
        case 2: return overBound
        default:
            let depth = 1 + rng.below(5)
            var levels = (0..<depth).map { _ in ["a", "b", "", "+", "$s"][rng.below(5)] }
            if rng.below(4) == 0 { levels.append("#") }
            return levels.joined(separator: "/")
        }
    }

    static func topic(_ rng: inout SplitMix64) -> String {
        switch rng.below(80) {
        case 0: return probe
        case 1: return String(repeating: "a/", count: 250) + "a"
        default: return (0..<(1 + rng.below(5))).map { _ in ["a", "b", "", "$s", "c"][rng.below(5)] }.joined(separator: "/")
        }
    }

    @Test func matchesTheReferenceModel() {
        var rng = SplitMix64(seed: 0x5452_4545)
        var tree = SubscriptionTree<Int>()
        var model: [Int: Set<String>] = [:]
        for step in 0..<2_500 {
            let subscriber = rng.below(6)
            switch rng.below(3) {
            case 0:
                let filter = Self.filter(&rng)
                let existed = tree.subscribe(subscriber, filter: filter, options: .init(qos: .atMostOnce), identifier: nil)
                let inserted = model[subscriber, default: []].insert(filter).inserted
                #expect(existed == !inserted, "step \(step): subscribe \(filter.prefix(40))")
            case 1:
                let known = model[subscriber].map(Array.init) ?? []
                let filter = !known.isEmpty && rng.below(3) > 0 ? known[rng.below(known.count)] : Self.filter(&rng)
                let removed = tree.unsubscribe(subscriber, filter: filter)
                #expect(removed == (model[subscriber]?.remove(filter) != nil), "step \(step): unsubscribe \(filter.prefix(40))")
            default:
                let topic = Self.topic(&rng)
                let got = tree.match(topic: topic).entries.map(\.subscriber).sorted()
                let expected = model.flatMap { subscriber, filters in
                    filters.filter { MQTTTopic.matches(filter: $0, topic: topic) }.map { _ in subscriber }
                }.sorted()
                #expect(got == expected, "step \(step): match \(topic.prefix(40))")
            }
            #expect(tree.count == model.values.reduce(0) { $0 + $1.count })
        }
    }
}
