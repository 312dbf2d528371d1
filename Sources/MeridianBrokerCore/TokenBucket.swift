import NIOCore

/// A token bucket, the one rate limit of the broker: `max_publish_rate` per client (one token per
/// message) and a bridge's `drain_rate` (one bucket of messages, one of bytes). It holds at most
/// ``capacity`` tokens and refills continuously at ``rate`` tokens per second.
///
/// Pure: the caller passes the time in. Integer arithmetic only (tokens scaled by 10⁹, so each
/// nanosecond adds `rate`), so refills are exact however small the steps.
public struct TokenBucket: Sendable, Equatable {
    /// Tokens per second.
    public let rate: Int
    /// The most tokens it holds: one second's worth by default, the burst after a quiet second.
    public let capacity: Int
    private var scaledTokens: Int64
    private var last: NIODeadline
    private static let scale: Int64 = 1_000_000_000

    /// - Parameters:
    ///   - full: whether it starts with ``capacity`` tokens (else with none).
    public init(rate: Int, capacity: Int? = nil, full: Bool = true, now: NIODeadline) {
        precondition(rate > 0, "a token bucket needs a positive rate")
        self.rate = rate
        self.capacity = max(1, capacity ?? rate)
        self.scaledTokens = full ? Int64(self.capacity) * Self.scale : 0
        self.last = now
    }

    /// Whether `cost` tokens are there now (refilling first). A cost above the capacity is there
    /// once the bucket is full, so an oversized item waits but is never refused for ever.
    public mutating func has(_ cost: Int = 1, now: NIODeadline) -> Bool {
        refill(now: now)
        return scaledTokens >= Self.scaled(min(cost, capacity))
    }

    /// Takes `cost` tokens if they are there: true admits, false means over the rate.
    public mutating func take(_ cost: Int = 1, now: NIODeadline) -> Bool {
        guard has(cost, now: now) else { return false }
        scaledTokens -= Self.scaled(min(cost, capacity))
        return true
    }

    /// How long from `now` until `cost` tokens are there (zero if they are), as of the last refill.
    public func wait(for cost: Int = 1, now: NIODeadline) -> TimeAmount {
        let missing = Self.scaled(min(cost, capacity)) - scaledTokens
        guard missing > 0 else { return .zero }
        let elapsed = max(0, (now - last).nanoseconds)
        let needed = (missing + Int64(rate) - 1) / Int64(rate)  // nanoseconds, rounded up
        return .nanoseconds(max(0, needed - elapsed))
    }

    private mutating func refill(now: NIODeadline) {
        guard now > last else { return }
        let limit = Self.scaled(capacity)
        let (refill, overflow) = (now - last).nanoseconds.multipliedReportingOverflow(by: Int64(rate))
        // Saturating: a long quiet time just fills the bucket.
        scaledTokens = overflow || refill >= limit ? limit : min(limit, scaledTokens + refill)
        last = now
    }

    private static func scaled(_ tokens: Int) -> Int64 {
        let (value, overflow) = Int64(tokens).multipliedReportingOverflow(by: scale)
        return overflow ? Int64.max : value
    }
}
