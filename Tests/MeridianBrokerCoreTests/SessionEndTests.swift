import MeridianBrokerCore
import Testing

@Suite("Session end: wills and expiry")
struct SessionEndTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var facts: SessionEnd.Facts
        var expected: SessionEnd.Decision
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "abnormal close, no delay, clean session: will now, nothing to expire",
            facts: .init(willDue: true, sessionEnded: true, sessionExpiry: 0),
            expected: .init(will: .publishNow, expireAfter: nil)),
        Row(name: "DISCONNECT 0x00: no will; a persistent session expires later",
            facts: .init(willDue: false, sessionEnded: false, sessionExpiry: 300),
            expected: .init(will: .none, expireAfter: 300)),
        Row(name: "will delay shorter than the session: published after the delay",
            facts: .init(willDue: true, willDelay: 10, sessionEnded: false, sessionExpiry: 300),
            expected: .init(will: .publishAfter(seconds: 10), expireAfter: 300)),
        Row(name: "will delay longer than the session: published when the session ends",
            facts: .init(willDue: true, willDelay: 600, sessionEnded: false, sessionExpiry: 30),
            expected: .init(will: .publishAfter(seconds: 30), expireAfter: 30)),
        Row(name: "will delay, but the session ended with the connection: published now",
            facts: .init(willDue: true, willDelay: 10, sessionEnded: true, sessionExpiry: 0),
            expected: .init(will: .publishNow, expireAfter: nil)),
        Row(name: "taken over with a will still due: published now",
            facts: .init(willDue: true, willDelay: 10, takenOver: true, wasAttached: false, sessionEnded: false, sessionExpiry: 300),
            expected: .init(will: .publishNow, expireAfter: nil)),
        Row(name: "server shutdown: no will; the session outlives the process in the store",
            facts: .init(willDue: true, shuttingDown: true, sessionEnded: false, sessionExpiry: 300),
            expected: .init(will: .none, expireAfter: 300)),
        Row(name: "a session that never expires has no expiry timer",
            facts: .init(willDue: false, sessionEnded: false, sessionExpiry: UInt32.max),
            expected: .init(will: .none, expireAfter: nil)),
        Row(name: "will delay with a session that never expires: published after the delay",
            facts: .init(willDue: true, willDelay: 5, sessionEnded: false, sessionExpiry: UInt32.max),
            expected: .init(will: .publishAfter(seconds: 5), expireAfter: nil)),
    ]

    @Test("decision table", arguments: rows)
    func table(_ row: Row) {
        #expect(SessionEnd.decide(row.facts) == row.expected)
    }

    @Test("a takeover cancels a delayed will of a live session only")
    func takeover() {
        #expect(SessionEnd.takeoverCancelsWill(willDelay: 10, sessionStillLive: true))
        #expect(!SessionEnd.takeoverCancelsWill(willDelay: 0, sessionStillLive: true))
        #expect(!SessionEnd.takeoverCancelsWill(willDelay: 10, sessionStillLive: false))
    }
}
