import NIOConcurrencyHelpers
import NIOCore

/// The one clock of every timer-driven decision (keep-alive, will delay, expiry, message age,
/// rate limits, reconnect backoff, link liveness): monotonic time as `NIODeadline`. The pure state
/// machines take `now` from it as an input; the NIO layer reads it from the clock it was given,
/// so tests can substitute a ``ManualClock``. Wall-clock Unix seconds are used only for what the
/// store keeps across restarts.
public protocol MonotonicClock: Sendable {
    var now: NIODeadline { get }
}

/// The system's monotonic clock (the event loops' own).
public struct SystemClock: MonotonicClock {
    public init() {}
    public var now: NIODeadline { .now() }
}

/// A clock that moves only when told to (tests).
public final class ManualClock: MonotonicClock, @unchecked Sendable {
    private let current: NIOLockedValueBox<NIODeadline>

    public init(_ start: NIODeadline = .uptimeNanoseconds(1_000_000_000)) {
        current = NIOLockedValueBox(start)
    }

    public var now: NIODeadline { current.withLockedValue { $0 } }

    public func advance(by amount: TimeAmount) {
        current.withLockedValue { $0 = $0 + amount }
    }
}
