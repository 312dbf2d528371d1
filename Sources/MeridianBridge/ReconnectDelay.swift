/// `restart_timeout <base> [<cap>]`: a constant delay without a cap; with one, exponential
/// backoff from `base` to `cap` seconds with full jitter on the upper half, reset after a
/// successful connection.
struct ReconnectDelay {
    let base: Int
    let cap: Int?
    private(set) var attempt = 0

    init(base: Int, cap: Int?) {
        self.base = max(1, base)
        self.cap = cap
    }

    /// The next delay in milliseconds.
    mutating func next<Random: RandomNumberGenerator>(using random: inout Random) -> Int64 {
        defer { attempt += 1 }
        guard let cap, cap > base else { return Int64(base) * 1000 }
        let exponential = min(cap, base << min(attempt, 16))
        let milliseconds = Int64(exponential) * 1000
        return milliseconds / 2 + Int64.random(in: 0...(milliseconds / 2), using: &random)
    }

    mutating func reset() { attempt = 0 }
}
