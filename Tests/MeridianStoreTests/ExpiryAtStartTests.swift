import MeridianMQTT
import MeridianStore
import Testing

@Suite("What expired while the broker was down is dropped at open")
struct ExpiryAtStartTests {
    @Test func expiredSessionsGoLiveOnesStay() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        try await store.commitAndWait([
            // Disconnected 120 s before the restart with 60 s expiry: gone, with its rows.
            .upsertSession(session("expired", expiry: 60, disconnectedAt: testNow - 120)),
            .upsertSubscription(clientID: "expired", filter: "t", options: .init(qos: .atLeastOnce), identifier: nil),
            .appendMessage(clientID: "expired", messageID: 1, message("t", "lost")),
            .insertInboundQoS2(clientID: "expired", packetID: 3),
            // Its will stays: it is due by now and the broker publishes it.
            .putWill(clientID: "expired", message("will", "gone"), dueAt: testNow - 70),
            // Exactly at the limit counts as expired.
            .upsertSession(session("boundary", expiry: 60, disconnectedAt: testNow - 60)),
            .upsertSession(session("live", expiry: 60, disconnectedAt: testNow - 30)),
            .upsertSession(session("forever", expiry: .max, disconnectedAt: 0)),
            // Connected when the broker stopped: disconnected from now on.
            .upsertSession(session("connected0", expiry: 0)),
            .upsertSession(session("connected", expiry: 100)),
        ])
        store.close()

        let log = LogLines()
        let state = try recover(dir, log: log)
        #expect(state.sessions.map(\.session.clientID) == ["connected", "forever", "live"])
        #expect(state.session("connected")?.session.disconnectedAt == testNow)
        #expect(state.session("live")?.session.disconnectedAt == testNow - 30)
        #expect(state.wills.map(\.clientID) == ["expired"])
        #expect(state.lastMessageID == 1)
        #expect(log.contains("removed 3 expired sessions"))

        // The connected session's clock now runs from the first restart, not the second.
        let later = try recover(dir, now: testNow + 99)
        #expect(later.sessions.map(\.session.clientID) == ["connected", "forever"])
        #expect(try recover(dir, now: testNow + 100).sessions.map(\.session.clientID) == ["forever"])
    }

    @Test func expiredMessagesAreDropped() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        try await store.commitAndWait([
            .upsertSession(session("s", expiry: .max, disconnectedAt: testNow - 1000)),
            .appendMessage(clientID: "s", messageID: 1, message("t", "expired", expiresAt: testNow - 1)),
            .appendMessage(clientID: "s", messageID: 2, message("t", "at the limit", expiresAt: testNow)),
            .appendMessage(clientID: "s", messageID: 3, message("t", "live", expiresAt: testNow + 1)),
            .appendMessage(clientID: "s", messageID: 4, message("t", "no expiry")),
            // QoS 2 already sent: the flow must complete, expired or not.
            .appendMessage(clientID: "s", messageID: 5, message("t", "in flight", qos: .exactlyOnce, expiresAt: testNow - 5)),
            .updateMessageState(clientID: "s", messageID: 5, packetID: 1, released: false),
            .putRetained(topic: "r/old", message("r/old", "expired", retain: true, expiresAt: testNow - 10)),
            .putRetained(topic: "r/new", message("r/new", "live", retain: true, expiresAt: testNow + 10)),
            .putRetained(topic: "r/always", message("r/always", "live", retain: true)),
        ])
        store.close()

        let log = LogLines()
        let state = try recover(dir, log: log)
        #expect(state.sessions[0].messages.map(\.messageID) == [3, 4, 5])
        #expect(state.retained.map(\.topic) == ["r/always", "r/new"])
        #expect(state.lastMessageID == 5)
        #expect(log.contains("removed 2 expired queued messages"))
        #expect(log.contains("removed 1 expired retained messages"))
    }
}
