import MeridianMQTT
import MeridianStore
import NIOCore
import Testing

@Suite("Operations survive close and reopen")
struct RoundTripTests {
    static let richProperties: MQTTProperties = [
        .payloadFormatIndicator(1), .messageExpiryInterval(120), .contentType("application/json"),
        .responseTopic("reply/here"), .correlationData(ByteBuffer(bytes: [0, 1, 2, 255])),
        .userProperty("k", "v"), .userProperty("k", "second"), .userProperty("", "ünïcødé"),
    ]

    @Test func everyOperationTypeRoundTrips() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, initial) = try openStore(dir)
        #expect(initial.sessions.isEmpty && initial.retained.isEmpty && initial.wills.isEmpty && initial.lastMessageID == 0)
        // Exclusive locking keeps the WAL index in memory: no memory-mapped -shm file on flash.
        try await store.commitAndWait([])
        #expect(dir.entries() == ["meridian.db", "meridian.db-wal"])

        let options = MQTTSubscriptionOptions(qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend)
        let m1 = message("a/1", "one", properties: Self.richProperties, expiresAt: testNow + 500, subscriptionIdentifiers: [7, 268_435_455])
        let m2 = message("a/2", "two", qos: .exactlyOnce)
        let m3 = message("a/3", "", qos: .atMostOnce, retain: true)
        try await store.commitAndWait([
            .upsertSession(session("a", expiry: 600)),
            .upsertSession(session("b", expiry: .max, version: .v3_1_1)),
            .upsertSubscription(clientID: "a", filter: "x/+/y", options: options, identifier: 7),
            .upsertSubscription(clientID: "a", filter: "z/#", options: .init(qos: .exactlyOnce), identifier: nil),
            .upsertSubscription(clientID: "b", filter: "gone", options: .init(qos: .atMostOnce), identifier: nil),
            .appendMessage(clientID: "a", messageID: 1, m1),
            .appendMessage(clientID: "a", messageID: 2, m2),
            .appendMessage(clientID: "a", messageID: 3, m3),
            .insertInboundQoS2(clientID: "a", packetID: 5),
            .insertInboundQoS2(clientID: "a", packetID: 6),
            .insertInboundQoS2(clientID: "a", packetID: 6),
        ])
        store.enqueue([
            .updateMessageState(clientID: "a", messageID: 2, packetID: 10, released: false),
            .deleteSubscription(clientID: "b", filter: "gone"),
        ])
        try await store.commitAndWait([
            .updateMessageState(clientID: "a", messageID: 2, packetID: 10, released: true),
            .deleteInboundQoS2(clientID: "a", packetID: 5),
            .markSessionDisconnected(clientID: "a", at: testNow - 10),
            .markSessionDisconnected(clientID: "b", at: testNow - 20),
            .markSessionConnected(clientID: "b"),
            .markSessionDisconnected(clientID: "b", at: testNow - 5),
            .putRetained(topic: "r/1", message("r/1", "first", retain: true)),
            .putRetained(topic: "r/2", message("r/2", "second", retain: true, properties: [.contentType("text/plain")])),
            .putRetained(topic: "r/1", message("r/1", "replaced", qos: .exactlyOnce, retain: true)),
            .putRetained(topic: "r/3", message("r/3", "deleted", retain: true)),
            .putRetained(topic: "r/3", nil),
            .putWill(clientID: "a", message("will/a", "bye a", properties: [.willDelayInterval(30), .userProperty("x", "y")]), dueAt: testNow + 30),
            .putWill(clientID: "b", message("will/b", "bye b"), dueAt: testNow + 60),
            .putWill(clientID: "b", message("will/b", "bye b again", qos: .exactlyOnce), dueAt: testNow + 90),
            .putWill(clientID: "c", message("will/c", "bye c"), dueAt: testNow + 1),
            .deleteWill(clientID: "c"),
        ])
        store.close()

        let state = try recover(dir)
        #expect(state.lastMessageID == 3)
        #expect(state.sessions.map(\.session.clientID) == ["a", "b"])
        let a = try #require(state.session("a"))
        #expect(a.session == session("a", expiry: 600, disconnectedAt: testNow - 10))
        #expect(a.subscriptions.map(\.filter) == ["x/+/y", "z/#"])
        #expect(a.subscriptions.map(\.options) == [options, .init(qos: .exactlyOnce)])
        #expect(a.subscriptions.map(\.identifier) == [7, nil])
        #expect(
            a.messages == [
                RecoveredMessage(messageID: 1, message: m1),
                RecoveredMessage(messageID: 2, message: m2, packetID: 10, released: true),
                RecoveredMessage(messageID: 3, message: m3),
            ])
        #expect(a.inboundQoS2 == [6])
        let b = try #require(state.session("b"))
        #expect(b.session == session("b", expiry: .max, version: .v3_1_1, disconnectedAt: testNow - 5))
        #expect(b.subscriptions.isEmpty && b.messages.isEmpty && b.inboundQoS2.isEmpty)

        #expect(state.retained.map(\.topic) == ["r/1", "r/2"])
        #expect(state.retained[0].message == message("r/1", "replaced", qos: .exactlyOnce, retain: true))
        #expect(state.retained[1].message == message("r/2", "second", retain: true, properties: [.contentType("text/plain")]))
        #expect(state.retained.allSatisfy { $0.version == nil })

        #expect(state.wills.map(\.clientID) == ["a", "b"])
        #expect(state.wills[0].message == message("will/a", "bye a", properties: [.willDelayInterval(30), .userProperty("x", "y")]))
        #expect(state.wills[0].dueAt == testNow + 30)
        #expect(state.wills[1].message == message("will/b", "bye b again", qos: .exactlyOnce))
        #expect(state.wills[1].dueAt == testNow + 90)
    }

    @Test("a bridge's own state survives close and reopen: kept per bridge and key, replaced, deleted")
    func bridgeStateRoundTrips() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, initial) = try openStore(dir)
        #expect(initial.bridgeState.isEmpty)
        try await store.commitAndWait([
            .putBridgeState(bridge: "uplink", key: "epoch", value: "1"),
            .putBridgeState(bridge: "uplink", key: "epoch", value: "2"),
            .putBridgeState(bridge: "uplink", key: "cluster", value: "eu-1"),
            .putBridgeState(bridge: "backup", key: "epoch", value: "7"),
            .putBridgeState(bridge: "backup", key: "gone", value: "x"),
            .putBridgeState(bridge: "backup", key: "gone", value: nil),
        ])
        store.close()
        let (reopened, state) = try openStore(dir)
        defer { reopened.close() }
        #expect(state.bridgeState == ["uplink": ["epoch": "2", "cluster": "eu-1"], "backup": ["epoch": "7"]])
    }

    @Test func deleteSessionRemovesEverythingOfThatClient() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        for client in ["keep", "drop"] {
            try await store.commitAndWait([
                .upsertSession(session(client)),
                .upsertSubscription(clientID: client, filter: "f/\(client)", options: .init(qos: .atLeastOnce), identifier: 1),
                .appendMessage(clientID: client, messageID: client == "keep" ? 1 : 2, message("t", client)),
                .insertInboundQoS2(clientID: client, packetID: 9),
                .putWill(clientID: client, message("w", client), dueAt: testNow),
            ])
        }
        try await store.commitAndWait([.deleteSession(clientID: "drop")])
        store.close()

        let state = try recover(dir)
        #expect(state.sessions.map(\.session.clientID) == ["keep"])
        #expect(state.sessions[0].subscriptions.count == 1)
        #expect(state.sessions[0].messages.map(\.messageID) == [1])
        #expect(state.sessions[0].inboundQoS2 == [9])
        #expect(state.wills.map(\.clientID) == ["keep"])
        #expect(state.lastMessageID == 1)
    }

    @Test func messagesComeBackInMessageIDOrder() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        // An append may come before its session's row, even in another batch.
        try await store.commitAndWait([.appendMessage(clientID: "q", messageID: 50, message("t", "50"))])
        try await store.commitAndWait([
            .appendMessage(clientID: "q", messageID: 7, message("t", "7")),
            .upsertSession(session("q")),
            .appendMessage(clientID: "q", messageID: 1000, message("t", "1000")),
            .appendMessage(clientID: "other", messageID: 8, message("t", "8")),
            .upsertSession(session("other")),
            .appendMessage(clientID: "q", messageID: 9, message("t", "9")),
            .deleteMessage(clientID: "q", messageID: 1000),
            .appendMessage(clientID: "q", messageID: 20, message("t", "20")),
        ])
        store.close()

        let state = try recover(dir)
        let q = try #require(state.session("q"))
        #expect(q.messages.map(\.messageID) == [7, 9, 20, 50])
        #expect(q.messages.map { String(buffer: $0.message.payload) } == ["7", "9", "20", "50"])
        #expect(state.session("other")?.messages.map(\.messageID) == [8])
        #expect(state.lastMessageID == 50)
    }

    @Test func qos2StateFollowsTheFlow() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var (store, _) = try openStore(dir)
        try await store.commitAndWait([
            .upsertSession(session("c")),
            .appendMessage(clientID: "c", messageID: 1, message("t", "x", qos: .exactlyOnce)),
            .appendMessage(clientID: "c", messageID: 2, message("t", "y", qos: .exactlyOnce)),
            .insertInboundQoS2(clientID: "c", packetID: 300),
        ])
        try await store.commitAndWait([.updateMessageState(clientID: "c", messageID: 1, packetID: 41, released: false)])
        store.close()
        var state = try recover(dir)
        #expect(state.sessions[0].messages.map(\.packetID) == [41, nil])
        #expect(state.sessions[0].messages.map(\.released) == [false, false])
        #expect(state.sessions[0].inboundQoS2 == [300])

        (store, _) = try openStore(dir)
        try await store.commitAndWait([
            .updateMessageState(clientID: "c", messageID: 1, packetID: 41, released: true),
            .updateMessageState(clientID: "c", messageID: 2, packetID: 42, released: false),
            .deleteInboundQoS2(clientID: "c", packetID: 300),
            .insertInboundQoS2(clientID: "c", packetID: 301),
        ])
        store.close()
        state = try recover(dir)
        #expect(state.sessions[0].messages.map(\.packetID) == [41, 42])
        #expect(state.sessions[0].messages.map(\.released) == [true, false])
        #expect(state.sessions[0].inboundQoS2 == [301])

        (store, _) = try openStore(dir)
        try await store.commitAndWait([.deleteMessage(clientID: "c", messageID: 1)])
        store.close()
        state = try recover(dir)
        #expect(state.sessions[0].messages.map(\.messageID) == [2])
    }

    @Test func fullSyncAndNoBatchDelayWork() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir, sync: .full, maxBatchDelay: .zero)
        try await store.commitAndWait([.upsertSession(session("s"))])
        try await store.commitAndWait([.appendMessage(clientID: "s", messageID: 1, message("t", "p"))])
        try await store.commitAndWait([])
        #expect(store.statistics.commits == 3)
        #expect(store.statistics.operationsCommitted == 2)
        store.close()
        #expect(try recover(dir).sessions[0].messages.count == 1)
    }

    @Test func closeIsIdempotentAndLaterWorkFailsAsClosed() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = LogLines()
        let (store, _) = try openStore(dir, log: log)
        let pending = store.commit([.upsertSession(session("late"))], on: testLoop)
        store.close()
        store.close()
        try await pending.get()  // queued before close: committed by close
        await #expect {
            try await store.commitAndWait([.upsertSession(session("after"))])
        } throws: { ($0 as? StoreError)?.code == .closed }
        store.enqueue([.upsertSession(session("after"))])
        #expect(log.contains("after close"))
        #expect(try recover(dir).sessions.map(\.session.clientID) == ["late"])
        // A clean close checkpoints and removes the WAL.
        #expect(dir.entries() == ["meridian.db"])
    }
}
