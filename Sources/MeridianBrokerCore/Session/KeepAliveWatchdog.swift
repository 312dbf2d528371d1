import NIOCore

/// Liveness of an MQTT connection by its keep-alive (3.1.2.10): the peer must be heard from
/// within one and a half times the keep-alive, or the connection is dead. One watchdog for both
/// ends: the broker watching its clients, and a bridge watching its remote broker.
///
/// Pure: what was heard and each check carry the time (``MonotonicClock``).
public struct KeepAliveWatchdog: Sendable, Equatable {
    /// 1.5 × the keep-alive.
    public let limit: TimeAmount
    public private(set) var lastHeard: NIODeadline

    public enum Verdict: Sendable, Equatable {
        /// Heard from in time: check again at this deadline (when it would expire).
        case alive(checkAt: NIODeadline)
        /// Silent for ``limit``: close the connection.
        case expired
    }

    /// Nil for keep-alive 0: no watchdog.
    public init?(keepAlive seconds: Int, now: NIODeadline) {
        guard seconds > 0 else { return nil }
        self.limit = .milliseconds(Int64(seconds) * 1500)
        self.lastHeard = now
    }

    /// Something arrived from the peer.
    public mutating func heard(at now: NIODeadline) {
        if now > lastHeard { lastHeard = now }
    }

    public func check(now: NIODeadline) -> Verdict {
        let expiresAt = lastHeard + limit
        return now >= expiresAt ? .expired : .alive(checkAt: expiresAt)
    }
}
