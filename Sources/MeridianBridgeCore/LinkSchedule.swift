import NIOCore

/// When and where a bridge link connects: the address it uses (`address` list with `round_robin`),
/// what `start_type` allows, and how long it waits before the next attempt (``Backoff``).
///
/// Pure: events carry the time; randomness (the backoff's jitter) comes from the caller's
/// generator. The link's NIO side opens the connections it names and arms the timers it asks for.
public struct LinkSchedule: Sendable {
    public let addressCount: Int
    public let roundRobin: Bool
    public let startType: BridgeSettings.StartType
    /// `start_type lazy`: messages queued that start the link, and seconds without traffic that stop it.
    public let threshold: Int
    public let idleTimeout: Int
    public private(set) var backoff: Backoff
    /// `lazy`: the traffic count at the last check, and when it last changed.
    private var trafficAtLastCheck = 0
    private var lastTraffic: NIODeadline?
    /// The address the next attempt uses (an index into the `address` list).
    public private(set) var addressIndex = 0
    private var attempted = false

    public init(settings: BridgeSettings) {
        self.addressCount = max(1, settings.addresses.count)
        self.roundRobin = settings.roundRobin
        self.startType = settings.startType
        self.threshold = settings.threshold
        self.idleTimeout = settings.idleTimeout
        self.backoff = Backoff(settings: settings)
    }

    public enum LazyAction: Sendable, Equatable {
        case none
        /// `threshold` messages are queued: connect.
        case connect
        /// Connected, nothing waiting or in flight, and no traffic for `idle_timeout`: disconnect.
        case disconnectIdle
    }

    /// The periodic check of `start_type lazy`.
    /// - Parameters:
    ///   - down: neither connected nor waiting to reconnect.
    ///   - up: connected (CONNACK received).
    ///   - queued: messages the outbox holds (queued and held in flight).
    ///   - drained: nothing waiting for the window and nothing in flight.
    ///   - traffic: messages forwarded plus received so far (any change counts as traffic).
    public mutating func lazyCheck(down: Bool, up: Bool, queued: Int, drained: Bool, traffic: Int, now: NIODeadline) -> LazyAction {
        if traffic != trafficAtLastCheck || lastTraffic == nil {
            trafficAtLastCheck = traffic
            lastTraffic = now
        }
        if down { return queued >= threshold ? .connect : .none }
        if up, drained, let lastTraffic, now - lastTraffic >= .seconds(Int64(idleTimeout)) { return .disconnectIdle }
        return .none
    }

    /// A connection attempt starts: counts as traffic for the idle timer.
    public mutating func attemptedConnection(now: NIODeadline) {
        lastTraffic = now
    }

    /// Whether an attempt may start now: `start_type once` allows the first only.
    public mutating func attemptStarts() -> Bool {
        if startType == .once && attempted { return false }
        attempted = true
        return true
    }

    /// Connected to a secondary address (with `round_robin false`): the link tries the primary
    /// meanwhile, and comes back to it once it answers.
    public var isOnSecondary: Bool { !roundRobin && addressCount > 1 && addressIndex != 0 }

    /// The link is up (a successful CONNACK).
    public mutating func connected(now: NIODeadline) {
        backoff.connected(at: now)
    }

    /// The primary answered while the link was on a secondary: it is the address in use now.
    public mutating func switchedToPrimary() {
        addressIndex = 0
    }

    public enum Next: Sendable, Equatable {
        /// Try again after `delay`, at ``addressIndex``.
        case reconnect(after: Duration)
        /// `start_type once`: no other attempt. `lazy`: the next attempt comes from its queue check.
        case none
    }

    /// The connection ended, or an attempt failed (`failedAddress`: it never got a CONNACK).
    /// `round_robin true` rotates through the addresses; `false` tries the next one only after a
    /// failed attempt and otherwise starts again from the primary.
    public mutating func ended(failedAddress: Bool, wasConnected: Bool, now: NIODeadline, using generator: inout some RandomNumberGenerator) -> Next {
        if wasConnected { backoff.disconnected(at: now) }
        if roundRobin || failedAddress {
            addressIndex = (addressIndex + 1) % addressCount
        } else {
            addressIndex = 0
        }
        guard startType == .automatic else { return .none }
        return .reconnect(after: backoff.nextDelay(using: &generator))
    }
}
