import MeridianClusterCore
import NIOCore
import Testing

/// The self-fencing deadline (DESIGN.md §8): measured from when a renewal was sent, shortened by
/// the clock drift bound and a margin of at least one second, so a node stops before etcd can
/// expire its lease and give what it owns to another node.
@Suite struct LeaseFencingTests {
    private let t0 = NIODeadline.uptimeNanoseconds(100_000_000_000)
    private let settings = LeaseFencing.Settings(ttl: .seconds(10))

    @Test func deadlineArithmetic() {
        let fencing = LeaseFencing(settings: settings)
        // 10 s / 1.001 = 9.99001 s, minus the 1 s margin.
        let deadline = fencing.deadline(sentAt: t0, grantedTTL: .seconds(10))
        #expect(deadline == t0 + .nanoseconds(8_990_009_990))
        #expect(deadline < t0 + .seconds(10) - .seconds(1))
        #expect(settings.renewalInterval == .nanoseconds(3_333_333_333))
        // A margin below one second is raised to one second.
        #expect(LeaseFencing.Settings(ttl: .seconds(10), margin: .milliseconds(10)).margin == .seconds(1))
    }

    @Test func servesFromTheSendTimeNotTheAnswerTime() {
        var fencing = LeaseFencing(settings: settings)
        #expect(!fencing.isServing(at: t0))
        // The answer came 3 s after the request: the deadline still counts from the send.
        fencing.renewed(sentAt: t0, grantedTTL: .seconds(10), now: t0 + .seconds(3))
        #expect(fencing.isServing(at: t0 + .seconds(8)))
        let at8 = fencing.check(now: t0 + .seconds(8))
        let at9 = fencing.check(now: t0 + .seconds(9))
        let at10 = fencing.check(now: t0 + .seconds(10))
        #expect(!at8)
        #expect(at9)  // fenced by this check
        #expect(!at10)  // already fenced
        #expect(fencing.state == .fenced)
    }

    @Test func anAnswerTooLateToServeLeavesItFenced() {
        var fencing = LeaseFencing(settings: settings)
        fencing.renewed(sentAt: t0, grantedTTL: .seconds(10), now: t0 + .seconds(9))
        #expect(fencing.state == .fenced)
    }

    @Test func renewalsExtendAndStaleAnswersAreIgnored() {
        var fencing = LeaseFencing(settings: settings)
        fencing.renewed(sentAt: t0, grantedTTL: .seconds(10), now: t0)
        fencing.renewed(sentAt: t0 + .seconds(3), grantedTTL: .seconds(10), now: t0 + .seconds(3))
        #expect(fencing.isServing(at: t0 + .seconds(11)))
        // The answer to an older request, arriving late, does not move the deadline back.
        fencing.renewed(sentAt: t0 + .seconds(1), grantedTTL: .seconds(10), now: t0 + .seconds(4))
        #expect(fencing.state == .serving(deadline: fencing.deadline(sentAt: t0 + .seconds(3), grantedTTL: .seconds(10))))
    }

    @Test func aLostLeaseFencesAtOnce() {
        var fencing = LeaseFencing(settings: settings)
        fencing.renewed(sentAt: t0, grantedTTL: .seconds(10), now: t0)
        fencing.renewed(sentAt: t0 + .seconds(3), grantedTTL: .zero, now: t0 + .seconds(3))  // etcd: TTL absent
        #expect(fencing.state == .fenced && fencing.lastConfirmedSend == nil)
    }
}
