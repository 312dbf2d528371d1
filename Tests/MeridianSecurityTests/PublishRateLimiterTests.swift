import MeridianBrokerCore
import Testing

@Suite("Publish rate limiter")
struct PublishRateLimiterTests {
    static let second: Int64 = 1_000_000_000

    @Test("a full bucket admits one second's worth, then refills at the rate")
    func tokenBucket() {
        var limiter = PublishRateLimiter(rate: 5, now: 0)
        #expect(admitted(5, by: &limiter, at: 0))
        #expect(!admit(&limiter, 0))
        #expect(!admit(&limiter, Self.second / 10))  // 0.5 token
        #expect(admit(&limiter, Self.second / 5))  // 1 token
        #expect(!admit(&limiter, Self.second / 5))
        // A long quiet time refills the bucket to its capacity only.
        #expect(admitted(5, by: &limiter, at: 100 * Self.second))
        #expect(!admit(&limiter, 100 * Self.second))
        // Time that goes backwards adds nothing.
        #expect(!admit(&limiter, 50 * Self.second))
    }

    private func admit(_ limiter: inout PublishRateLimiter, _ now: Int64) -> Bool {
        limiter.admit(now: now)
    }

    private func admitted(_ count: Int, by limiter: inout PublishRateLimiter, at now: Int64) -> Bool {
        var all = true
        for _ in 0..<count { all = limiter.admit(now: now) && all }
        return all
    }

    @Test("very long gaps do not overflow")
    func longGap() {
        var limiter = PublishRateLimiter(rate: 1_000_000, now: 0)
        #expect(admit(&limiter, Int64.max / 2))
    }
}
