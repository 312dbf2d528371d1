import MeridianMQTT
import MeridianStore
import NIOCore
import Testing

@Suite("A cluster's retained values keep their versions, and their clears, in the store")
struct RetainedVersionTests {
    @Test("a versioned value, a kept clear and an unversioned value read back as written; forgetting old clears removes only clears")
    func versionsAndClearsRoundTrip() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        try await store.commitAndWait([
            .putRetained(topic: "r/set", message("r/set", "on", qos: .atLeastOnce, retain: true), version: (time: 500, node: "node-a")),
            .putRetained(topic: "r/cleared", message("r/cleared", "x", retain: true), version: (time: 100, node: "node-b")),
            .putRetained(topic: "r/cleared", nil, version: (time: 200, node: "node-c")),
            .putRetained(topic: "r/old-clear", nil, version: (time: 50, node: "node-a")),
            .putRetained(topic: "r/edge", message("r/edge", "plain", retain: true)),
            .putRetained(topic: "r/deleted", message("r/deleted", "y", retain: true)),
            .putRetained(topic: "r/deleted", nil),
        ])
        store.close()

        let state = try recover(dir)
        #expect(state.retained.map(\.topic) == ["r/cleared", "r/edge", "r/old-clear", "r/set"])
        let byTopic = Dictionary(uniqueKeysWithValues: state.retained.map { ($0.topic, $0) })
        #expect(byTopic["r/set"]?.message == message("r/set", "on", qos: .atLeastOnce, retain: true))
        #expect(byTopic["r/set"]?.version?.time == 500 && byTopic["r/set"]?.version?.node == "node-a")
        #expect(byTopic["r/cleared"]?.message == nil)
        #expect(byTopic["r/cleared"]?.version?.time == 200 && byTopic["r/cleared"]?.version?.node == "node-c")
        #expect(byTopic["r/edge"]?.message == message("r/edge", "plain", retain: true))
        #expect(byTopic["r/edge"]?.version == nil)

        let (again, _) = try openStore(dir)
        try await again.commitAndWait([.forgetRetainedClears(before: 150)])
        again.close()
        #expect(try recover(dir).retained.map(\.topic) == ["r/cleared", "r/edge", "r/set"])
    }

    @Test("a versioned retained message that expired while the broker was down stays as a clear with its version; an unversioned one goes")
    func expiredVersionedValueBecomesAClear() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        try await store.commitAndWait([
            .putRetained(topic: "r/versioned", message("r/versioned", "old", retain: true, expiresAt: testNow - 1), version: (time: 9, node: "n")),
            .putRetained(topic: "r/plain", message("r/plain", "old", retain: true, expiresAt: testNow - 1)),
        ])
        store.close()
        let log = LogLines()
        let state = try recover(dir, log: log)
        #expect(state.retained.map(\.topic) == ["r/versioned"])
        #expect(state.retained.first?.message == nil && state.retained.first?.version?.time == 9)
        #expect(log.contains("removed 1 expired retained messages (their versions kept)"))
        #expect(log.all.contains { $0.hasSuffix("removed 1 expired retained messages at start") }, "\(log.all)")
    }
}
