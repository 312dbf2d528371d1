import NIOCore

/// The delay before a bridge reconnects: `restart_timeout <base> [<cap>]`.
///
/// - Without a cap the delay is always `base` (Mosquitto's constant restart timeout).
/// - With a cap it is *decorrelated jitter* (the AWS Architecture Blog's "Exponential Backoff and
///   Jitter", which Mosquitto's bridge also uses), in whole milliseconds:
///
///   ```
///   previous₀ = base
///   delayₙ    = min(cap, uniform(base, 3 × previousₙ₋₁))
///   previousₙ = delayₙ
///   ```
///
///   where `uniform(lo, hi) = lo + r mod (hi − lo + 1)` for one `r = rng.next()` (the modulo bias is
///   below 2⁻⁴⁰ for any delay shorter than a year). Delays grow by up to 3× per failure, stay in
///   `base...cap`, and spread out reconnecting edges so a region that comes back is not hit by
///   all of them at once.
/// - The growth is forgotten once a connection has stayed up for ``resetAfter`` (by default `cap`):
///   a link that flaps right after connecting keeps backing off, one that was stable starts again
///   from `base`.
///
/// Time and randomness are inputs, so tests are exact.
public struct Backoff: Sendable, Equatable {
    public let base: Duration
    /// `nil`: a constant delay.
    public let cap: Duration?
    /// How long a connection must last for the next failure to start again from `base`.
    public let resetAfter: Duration
    /// The last delay handed out, `base` when fresh.
    public private(set) var previous: Duration
    private var connectedSince: NIODeadline?

    /// - Parameters:
    ///   - base: the shortest (and, without a cap, the only) delay; negative counts as zero.
    ///   - cap: the longest delay; raised to `base` if lower.
    ///   - resetAfter: the stable connected period that resets the growth (default: `cap`, or
    ///     `base` without a cap).
    public init(base: Duration, cap: Duration? = nil, resetAfter: Duration? = nil) {
        let base = max(base, .zero)
        self.base = base
        self.cap = cap.map { max($0, base) }
        self.resetAfter = resetAfter ?? self.cap ?? base
        self.previous = base
    }

    /// The bridge's `restart_timeout` (seconds).
    public init(settings: BridgeSettings, resetAfter: Duration? = nil) {
        self.init(
            base: .seconds(settings.restartTimeoutBase), cap: settings.restartTimeoutCap.map { .seconds($0) },
            resetAfter: resetAfter
        )
    }

    /// The delay before the next attempt; advances the backoff.
    public mutating func nextDelay(using generator: inout some RandomNumberGenerator) -> Duration {
        guard let cap else { return base }
        let low = Self.milliseconds(base)
        let (tripled, overflow) = Self.milliseconds(previous).multipliedReportingOverflow(by: 3)
        let high = min(overflow ? UInt64.max : tripled, Self.milliseconds(cap))
        let span = high > low ? high - low : 0
        let value = span == UInt64.max ? generator.next() : low + generator.next() % (span + 1)
        let delay = min(Duration.milliseconds(value), cap)
        previous = delay
        return delay
    }

    /// ``nextDelay(using:)`` with the system's generator.
    public mutating func nextDelay() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return nextDelay(using: &generator)
    }

    /// The link is up (a successful CONNACK).
    public mutating func connected(at now: NIODeadline) {
        connectedSince = now
    }

    /// The link went down: if it had been up for ``resetAfter``, start again from `base`.
    public mutating func disconnected(at now: NIODeadline) {
        if let since = connectedSince, (now - since).nanoseconds >= Self.nanoseconds(resetAfter) { reset() }
        connectedSince = nil
    }

    /// Forget the growth: the next delay starts again from `base`.
    public mutating func reset() {
        previous = base
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? Int64.min : Int64.max) : whole + attoseconds / 1_000_000_000
    }

    private static func milliseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        if overflow { return UInt64.max }
        let (sum, overflow2) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000_000_000))
        return overflow2 ? UInt64.max : sum
    }
}
