import MeridianBrokerCore
import NIOCore

/// A connection whose keep-alive its loop checks (``KeepAliveTimers``).
protocol KeepAliveChecked: AnyObject {
    /// Checks the keep-alive at `now`; returns when to check again, or nil when there is nothing
    /// more to check (it expired and the connection closed, or it closed already).
    func checkKeepAlive(now: NIODeadline) -> NIODeadline?
}

/// The keep-alive checks of one loop's connections on one coarse timer, in slots of 100 ms,
/// instead of a scheduled task per connection: about 280 bytes of task, closures and future per
/// idle connection become one table entry. A check fires up to one slot after its deadline.
/// Confined to its loop.
final class KeepAliveTimers {
    static let slotNanoseconds: Int64 = 100_000_000

    private let eventLoop: EventLoop
    private let clock: any MonotonicClock
    private struct Watched {
        let connection: any KeepAliveChecked
        /// Tells this registration's slot entries from those of an earlier connection at the same address.
        let token: UInt64
    }
    private var watched: [ObjectIdentifier: Watched] = [:]
    private var slots: [Int64: [(ObjectIdentifier, UInt64)]] = [:]
    private var nextToken: UInt64 = 0
    private var lastSlot: Int64 = 0
    private var tick: RepeatedTask?

    init(eventLoop: EventLoop, clock: any MonotonicClock) {
        self.eventLoop = eventLoop
        self.clock = clock
    }

    /// Checks `connection` at `deadline` (and again whenever its check asks for it).
    func watch(_ connection: any KeepAliveChecked, checkAt deadline: NIODeadline) {
        nextToken &+= 1
        let id = ObjectIdentifier(connection)
        watched[id] = Watched(connection: connection, token: nextToken)
        insert(id, token: nextToken, at: deadline)
        startTicking()
    }

    func unwatch(_ connection: any KeepAliveChecked) {
        watched[ObjectIdentifier(connection)] = nil
        if watched.isEmpty {
            tick?.cancel()
            tick = nil
            slots.removeAll()
        }
    }

    private static func slot(of deadline: NIODeadline) -> Int64 {
        // Rounded up: a check never runs before its deadline.
        let nanoseconds = Int64(clamping: deadline.uptimeNanoseconds)
        return (nanoseconds + slotNanoseconds - 1) / slotNanoseconds
    }

    private func insert(_ id: ObjectIdentifier, token: UInt64, at deadline: NIODeadline) {
        slots[max(Self.slot(of: deadline), lastSlot + 1), default: []].append((id, token))
    }

    private func startTicking() {
        guard tick == nil else { return }
        lastSlot = Int64(clamping: clock.now.uptimeNanoseconds) / Self.slotNanoseconds
        let period = TimeAmount.nanoseconds(Self.slotNanoseconds)
        tick = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { [weak self] _ in
            self?.runDueChecks()
        }
    }

    private func runDueChecks() {
        let now = clock.now
        let current = Int64(clamping: now.uptimeNanoseconds) / Self.slotNanoseconds
        guard current > lastSlot else { return }
        var due: [(ObjectIdentifier, UInt64)] = []
        for slot in (lastSlot + 1)...current {
            if let entries = slots.removeValue(forKey: slot) { due += entries }
        }
        lastSlot = current
        for (id, token) in due {
            guard let entry = watched[id], entry.token == token else { continue }
            if let next = entry.connection.checkKeepAlive(now: now) {
                insert(id, token: token, at: next)
            } else if watched[id]?.token == token {
                watched[id] = nil
            }
        }
        if watched.isEmpty {
            tick?.cancel()
            tick = nil
            slots.removeAll()
        }
    }
}
