import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import Testing

/// Transcripts of a topic's retained value as a cluster node sees it: its own PUBLISHes, other
/// nodes' values arriving late, out of order, twice, and the expiries and clears in between.
@Suite struct RetainedMessagesTests {
    let now = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func message(_ text: String, topic: String = "state/valve", version: RetainedVersion? = nil, expiresAt: NIODeadline? = nil) -> BrokerMessage {
        var message = BrokerMessage(topic: topic, payload: ByteBuffer(string: text), qos: .atLeastOnce, retain: true, expiresAt: expiresAt)
        message.retainedVersion = version
        return message
    }

    func value(_ retained: RetainedMessages, _ topic: String = "state/valve") -> String? {
        retained.message(topic: topic).map { String(buffer: $0.payload) }
    }

    @Test("a PUBLISH here is versioned with the wall time and this node, after the topic's current version even when this clock is behind")
    func localPublishIsVersionedAfterTheCurrentValue() {
        var retained = RetainedMessages(keepsClears: true)
        var first = message("open")
        do { let result = retained.take(&first, wallTime: 1_000, node: "node-a"); #expect(result) }
        #expect(first.retainedVersion == RetainedVersion(time: 1_000, node: "node-a"))
        // node-c's clock is ahead: its value is at 5,000.
        do { let result = retained.merge(message("closed"), topic: "state/valve", version: RetainedVersion(time: 5_000, node: "node-c")); #expect(result) }
        // A new PUBLISH here at 2,000 still replaces it, one nanosecond later.
        var second = message("half")
        do { let result = retained.take(&second, wallTime: 2_000, node: "node-a"); #expect(result) }
        #expect(second.retainedVersion == RetainedVersion(time: 5_001, node: "node-a"))
        #expect(value(retained) == "half")
        #expect(retained.count == 1)
    }

    @Test("another node's value is taken only if newer, whatever the order it arrives in; equal versions are the same value")
    func newerWinsInAnyOrder() {
        let versions = [RetainedVersion(time: 10, node: "node-b"), RetainedVersion(time: 30, node: "node-a"), RetainedVersion(time: 20, node: "node-c")]
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1]] {
            var retained = RetainedMessages(keepsClears: true)
            var taken: [Bool] = []
            for index in order {
                var incoming = message("v\(versions[index].time)", version: versions[index])
                taken.append(retained.take(&incoming, wallTime: 0, node: "node-z"))
            }
            #expect(value(retained) == "v30", "order \(order)")
            // Heard again (a resend, or the exchange at link-up): nothing changes.
            do { let result = !retained.merge(message("v30"), topic: "state/valve", version: versions[1]); #expect(result) }
            #expect(taken.first == true)
        }
        // The same nanosecond on two nodes: the node name decides, the same way everywhere.
        var retained = RetainedMessages(keepsClears: true)
        retained.merge(message("from b"), topic: "t", version: RetainedVersion(time: 7, node: "node-b"))
        do { let result = retained.merge(message("from c"), topic: "t", version: RetainedVersion(time: 7, node: "node-c")); #expect(result) }
        do { let result = !retained.merge(message("from a"), topic: "t", version: RetainedVersion(time: 7, node: "node-a")); #expect(result) }
        #expect(value(retained, "t") == "from c")
    }

    @Test("a clear keeps its version: an older value from a node that missed it does not come back, a newer one does")
    func clearOutlivesOlderValues() {
        var retained = RetainedMessages(keepsClears: true)
        retained.merge(message("open"), topic: "state/valve", version: RetainedVersion(time: 10, node: "node-a"))
        var clear = BrokerMessage(topic: "state/valve", payload: ByteBuffer(), qos: .atMostOnce, retain: true)
        do { let result = retained.take(&clear, wallTime: 20, node: "node-b"); #expect(result) }
        #expect(value(retained) == nil && retained.count == 0)
        do { let result = !retained.merge(message("open"), topic: "state/valve", version: RetainedVersion(time: 10, node: "node-a")); #expect(result) }
        #expect(value(retained) == nil)
        let snapshot = retained.snapshot()
        #expect(snapshot.count == 1 && snapshot[0].entry.message == nil && snapshot[0].entry.version == RetainedVersion(time: 20, node: "node-b"))
        do { let result = retained.merge(message("closed"), topic: "state/valve", version: RetainedVersion(time: 30, node: "node-c")); #expect(result) }
        #expect(value(retained) == "closed" && retained.count == 1)
    }

    @Test("on the edge a clear deletes the topic")
    func edgeClearDeletes() {
        var retained = RetainedMessages()
        var set = message("open")
        _ = retained.take(&set, wallTime: 10, node: "edge")
        var clear = BrokerMessage(topic: "state/valve", payload: ByteBuffer(), qos: .atMostOnce, retain: true)
        _ = retained.take(&clear, wallTime: 20, node: "edge")
        #expect(retained.snapshot().isEmpty && retained.count == 0)
    }

    @Test("an expired value goes as a clear would, keeping its version; old clears are forgotten, newer ones and values kept")
    func expiryAndForgettingClears() {
        var retained = RetainedMessages(keepsClears: true)
        retained.merge(message("short", expiresAt: now - .seconds(1)), topic: "state/valve", version: RetainedVersion(time: 50, node: "node-a"))
        retained.merge(message("long", topic: "state/pump"), topic: "state/pump", version: RetainedVersion(time: 5, node: "node-a"))
        retained.merge(nil, topic: "state/gone", version: RetainedVersion(time: 100, node: "node-b"))
        #expect(retained.count == 2)
        do { let result = retained.removeExpired(now: now) == 1; #expect(result) }
        #expect(retained.count == 1)
        do { let result = !retained.merge(message("older"), topic: "state/valve", version: RetainedVersion(time: 40, node: "node-c")); #expect(result) }
        do { let result = retained.removeClears(olderThan: 60) == 1; #expect(result) }
        #expect(retained.snapshot().map(\.topic) == ["state/gone", "state/pump"])
    }

    @Test("the snapshot for a peer leaves out $SYS, which each node has of its own")
    func snapshotLeavesOutSys() {
        var retained = RetainedMessages(keepsClears: true)
        var sys = message("3", topic: "$SYS/broker/clients/connected")
        var mine = message("on", topic: "state/pump")
        _ = retained.take(&sys, wallTime: 1, node: "a")
        _ = retained.take(&mine, wallTime: 1, node: "a")
        #expect(retained.snapshot().map(\.topic) == ["state/pump"])
    }

    @Test("a value restored from the store without a version is older than any node's")
    func unversionedRestoreIsOldest() {
        var retained = RetainedMessages(keepsClears: true)
        retained.restore(message("from an older build"), topic: "state/valve", version: nil)
        do { let result = retained.merge(message("any"), topic: "state/valve", version: RetainedVersion(time: 1, node: "")); #expect(result) }
        #expect(RetainedVersion("12 node a") == RetainedVersion(time: 12, node: "node a"))
        #expect(RetainedVersion("x node") == nil && RetainedVersion("-1 n") == nil && RetainedVersion("12") == nil)
    }
}
