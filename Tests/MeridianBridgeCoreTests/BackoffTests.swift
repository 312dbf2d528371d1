import MeridianTestSupport
import MeridianBridgeCore
import NIOCore
import Testing

@Suite("Backoff")
struct BackoffTests {
    @Test func withoutCapTheDelayIsConstant() {
        var backoff = Backoff(base: .seconds(5))
        var random = ScriptedRandom([.max, 12345])
        for _ in 0..<5 { #expect(backoff.nextDelay(using: &random) == .seconds(5)) }
        #expect(random.index == 0, "a constant delay draws no random numbers")
    }

    @Test func decorrelatedJitterWithExactDraws() {
        // base 5 s, cap 30 s: delay = min(cap, 5000 ms + r mod (3 × previous − 5000 + 1)).
        var backoff = Backoff(base: .seconds(5), cap: .seconds(30))
        var random = ScriptedRandom([
            10_000,  // previous 5 s: 5000 + 10000 mod 10001 = 15000
            0,  // previous 15 s: the floor, 5000
            9_999,  // previous 5 s: 5000 + 9999 = 14999
            UInt64.max,  // previous 14.999 s: range 5000...30000 (44997 capped), 5000 + max mod 25001
        ])
        #expect(backoff.nextDelay(using: &random) == .seconds(15))
        #expect(backoff.nextDelay(using: &random) == .seconds(5))
        #expect(backoff.nextDelay(using: &random) == .milliseconds(14_999))
        #expect(backoff.nextDelay(using: &random) == .milliseconds(5000 + Int(UInt64.max % 25_001)))
    }

    @Test func theLargestDrawsGrowThreefoldUpToTheCap() {
        var backoff = Backoff(base: .seconds(1), cap: .seconds(60))
        // r = 3 × previous − base reaches the top of each range: 3, 9, 27, then the cap.
        var delays: [Duration] = []
        for span: UInt64 in [2000, 8000, 26_000, 59_000, 59_000] {
            var random = ScriptedRandom([span])
            delays.append(backoff.nextDelay(using: &random))
        }
        #expect(delays == [.seconds(3), .seconds(9), .seconds(27), .seconds(60), .seconds(60)])
    }

    @Test func delaysStayBetweenBaseAndCap() {
        var backoff = Backoff(base: .seconds(2), cap: .seconds(45))
        var random = SplitMix64(seed: 42)
        for _ in 0..<1000 {
            let delay = backoff.nextDelay(using: &random)
            #expect(delay >= .seconds(2) && delay <= .seconds(45))
        }
    }

    @Test func aStableConnectionResetsTheGrowth() {
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var backoff = Backoff(base: .seconds(5), cap: .seconds(30))
        var top = ScriptedRandom([10_000])
        #expect(backoff.nextDelay(using: &top) == .seconds(15))
        let grown = backoff.previous

        // Up for less than resetAfter (= cap, 30 s): keep backing off.
        backoff.connected(at: t0)
        backoff.disconnected(at: t0 + .seconds(29))
        #expect(backoff.previous == grown)

        // Up for 30 s: start again from base.
        backoff.connected(at: t0 + .seconds(40))
        backoff.disconnected(at: t0 + .seconds(70))
        #expect(backoff.previous == .seconds(5))
        var zero = ScriptedRandom([0])
        #expect(backoff.nextDelay(using: &zero) == .seconds(5))
    }

    @Test func explicitResetInterval() {
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var backoff = Backoff(base: .seconds(1), cap: .seconds(120), resetAfter: .seconds(10))
        var random = ScriptedRandom([2000])
        #expect(backoff.nextDelay(using: &random) == .seconds(3))
        backoff.connected(at: t0)
        backoff.disconnected(at: t0 + .seconds(10))
        #expect(backoff.previous == .seconds(1))
        // A disconnect without a connect does not reset.
        _ = backoff.nextDelay(using: &random)
        backoff.disconnected(at: t0 + .seconds(100))
        #expect(backoff.previous == .seconds(3))
    }

    @Test func fromSettings() {
        var settings = BridgeSettings(name: "b")
        settings.restartTimeoutBase = 7
        settings.restartTimeoutCap = nil
        #expect(Backoff(settings: settings) == Backoff(base: .seconds(7)))
        settings.restartTimeoutCap = 3
        let raised = Backoff(settings: settings)
        #expect(raised.cap == .seconds(7), "a cap below the base is raised to it")
        settings.restartTimeoutCap = 90
        #expect(Backoff(settings: settings).resetAfter == .seconds(90))
    }
}

