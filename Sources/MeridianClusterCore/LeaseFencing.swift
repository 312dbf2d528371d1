import NIOCore

/// Whether this node may act as an owner, by its etcd lease (DESIGN.md §8, invariant I3).
///
/// etcd expires a lease `ttl` after the last renewal it *received*; this node cannot know when
/// that was, only when it *sent* the renewal that etcd answered. So it serves only while
/// `now < sent + ttl / (1 + ρ) − margin`: ρ bounds how much faster this node's clock may run than
/// etcd's, and the margin (at least one second) covers the time a fenced node needs to stop.
/// Past that deadline the node fences itself; etcd may still hold the lease a little longer, never
/// the other way round, so two nodes never own the same thing at once.
///
/// Pure: renewals sent and answered, and time checks, each with `now`.
public struct LeaseFencing: Sendable, Hashable {
    public struct Settings: Sendable, Hashable {
        /// The lease's TTL (`membership_ttl`).
        public var ttl: TimeAmount
        /// Maximum relative clock drift against etcd.
        public var drift: Double
        /// Kept between this node's deadline and the earliest moment etcd may expire the lease.
        public var margin: TimeAmount

        public init(ttl: TimeAmount, drift: Double = 1e-3, margin: TimeAmount = .seconds(1)) {
            self.ttl = ttl
            self.drift = drift
            self.margin = max(margin, .seconds(1))
        }

        /// Renewals go out three times per TTL, so two can fail before the deadline.
        public var renewalInterval: TimeAmount { .nanoseconds(ttl.nanoseconds / 3) }
    }

    public enum State: Sendable, Hashable {
        /// No lease yet (joining), or the lease is gone: not an owner.
        case fenced
        /// An owner until `deadline`.
        case serving(deadline: NIODeadline)
    }

    public let settings: Settings
    public private(set) var state = State.fenced
    /// When the latest renewal that etcd answered was sent.
    public private(set) var lastConfirmedSend: NIODeadline?

    public init(settings: Settings) { self.settings = settings }

    /// The deadline a renewal sent at `sent` and answered with `ttl` gives.
    public func deadline(sentAt sent: NIODeadline, grantedTTL ttl: TimeAmount) -> NIODeadline {
        let safe = Double(ttl.nanoseconds) / (1 + settings.drift)
        return sent + .nanoseconds(Int64(safe)) - settings.margin
    }

    /// etcd granted or renewed the lease with `grantedTTL` in answer to a request sent at `sent`.
    /// An answer to an older request than one already confirmed changes nothing.
    public mutating func renewed(sentAt sent: NIODeadline, grantedTTL: TimeAmount, now: NIODeadline) {
        guard grantedTTL > .zero else { return leaseLost() }
        if let confirmed = lastConfirmedSend, sent < confirmed { return }
        lastConfirmedSend = sent
        let deadline = deadline(sentAt: sent, grantedTTL: grantedTTL)
        state = now < deadline ? .serving(deadline: deadline) : .fenced
    }

    /// etcd says the lease does not exist (expired or revoked): fenced until a new lease is held.
    public mutating func leaseLost() {
        state = .fenced
        lastConfirmedSend = nil
    }

    /// Checks the deadline. - Returns: true when this check fenced the node.
    public mutating func check(now: NIODeadline) -> Bool {
        guard case .serving(let deadline) = state, now >= deadline else { return false }
        state = .fenced
        return true
    }

    public func isServing(at now: NIODeadline) -> Bool {
        if case .serving(let deadline) = state { return now < deadline }
        return false
    }
}
