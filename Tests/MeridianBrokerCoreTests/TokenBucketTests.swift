import MeridianBrokerCore
import NIOCore
import Testing

@Suite("Token bucket")
struct TokenBucketTests {
    static func at(_ nanoseconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(nanoseconds)) }
    static let second: Int64 = 1_000_000_000

    @Test("a full bucket admits one second's worth, then refills at the rate (max_publish_rate)")
    func publishRate() {
        var bucket = TokenBucket(rate: 5, now: Self.at(0))
        #expect(taken(5, from: &bucket, at: 0))
        #expect(!take(&bucket, 0))
        #expect(!take(&bucket, Self.second / 10))  // 0.5 token
        #expect(take(&bucket, Self.second / 5))  // 1 token
        #expect(!take(&bucket, Self.second / 5))
        // A long quiet time refills the bucket to its capacity only.
        #expect(taken(5, from: &bucket, at: 100 * Self.second))
        #expect(!take(&bucket, 100 * Self.second))
        // Time that goes backwards adds nothing.
        #expect(!take(&bucket, 50 * Self.second))
    }

    @Test("an empty bucket says how long until the next token; the wait shrinks as time passes")
    func waitUntilTokens() {
        var bucket = TokenBucket(rate: 10, full: false, now: Self.at(0))
        #expect(!take(&bucket, 0))
        #expect(bucket.wait(for: 1, now: Self.at(0)) == .milliseconds(100))
        #expect(bucket.wait(for: 1, now: Self.at(40_000_000)) == .milliseconds(60))
        #expect(!take(&bucket, 99_999_999))
        #expect(take(&bucket, 100_000_000))
        #expect(bucket.wait(for: 3, now: Self.at(100_000_000)) == .milliseconds(300))
    }

    @Test("costs in bytes (drain_rate): a cost above the capacity passes once the bucket is full, never refused for ever")
    func byteCosts() {
        var bucket = TokenBucket(rate: 1_000, full: false, now: Self.at(0))
        #expect(!take(&bucket, 600, Self.second / 2))  // 500 there
        #expect(take(&bucket, 600, Self.second * 6 / 10))
        #expect(!take(&bucket, 5_000, Self.second))  // 400 there, 5,000 > capacity
        #expect(bucket.wait(for: 5_000, now: Self.at(Self.second)) == .milliseconds(600))
        #expect(take(&bucket, 5_000, Self.second * 16 / 10))
    }

    @Test("very long gaps do not overflow")
    func longGap() {
        var bucket = TokenBucket(rate: 1_000_000, now: Self.at(0))
        #expect(take(&bucket, Int64.max / 2))
    }

    private func take(_ bucket: inout TokenBucket, _ now: Int64) -> Bool {
        bucket.take(now: Self.at(now))
    }

    private func take(_ bucket: inout TokenBucket, _ cost: Int, _ now: Int64) -> Bool {
        bucket.take(cost, now: Self.at(now))
    }

    private func taken(_ count: Int, from bucket: inout TokenBucket, at now: Int64) -> Bool {
        var all = true
        for _ in 0..<count { all = bucket.take(now: Self.at(now)) && all }
        return all
    }
}
