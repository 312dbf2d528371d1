/// The per-client publish rate limit (`max_publish_rate`, Meridian addition): a token bucket that
/// holds at most one second's worth of messages and refills continuously at `rate` per second.
///
/// Pure: the caller passes the time in (nanoseconds of a monotonic clock).
public struct PublishRateLimiter: Sendable, Equatable {
    /// Messages per second; also the burst a client may send after being quiet for a second.
    public let rate: Int
    /// Tokens scaled by 10^9, so that refilling needs no floating point: one message costs
    /// `scale` and each nanosecond adds `rate`.
    private var tokens: Int64
    private var last: Int64
    private static let scale: Int64 = 1_000_000_000

    public init(rate: Int, now: Int64) {
        precondition(rate > 0, "a rate limiter needs a positive rate")
        self.rate = rate
        self.tokens = Int64(rate) * Self.scale
        self.last = now
    }

    /// Takes one message's token if there is one: true admits the message, false means over the limit.
    public mutating func admit(now: Int64) -> Bool {
        let capacity = Int64(rate) * Self.scale
        if now > last {
            let elapsed = now - last
            // Saturating: a long quiet time just fills the bucket.
            let (refill, overflow) = elapsed.multipliedReportingOverflow(by: Int64(rate))
            tokens = overflow || refill >= capacity ? capacity : min(capacity, tokens + refill)
            last = now
        }
        guard tokens >= Self.scale else { return false }
        tokens -= Self.scale
        return true
    }
}
