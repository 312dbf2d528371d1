import NIOConcurrencyHelpers
import NIOCore

/// `max_connections_per_address` of one listener: the connections open from each source IP
/// address, so that one host (a compromised device, a reconnect storm) cannot take every slot.
///
/// Counted from accept to close under a lock: accepts are rare next to messages.
final class ConnectionsPerAddress: Sendable {
    let limit: Int
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    /// nil when `limit` is negative (no limit), so unlimited listeners pay nothing.
    init?(limit: Int) {
        guard limit >= 0 else { return nil }
        self.limit = limit
    }

    /// Counts `channel` against its address until it closes; false (and not counted) when the
    /// address is at its limit.
    func admit(_ channel: Channel) -> Bool {
        guard let address = channel.remoteAddress?.ipAddress else { return true }
        let admitted = counts.withLockedValue { counts -> Bool in
            let current = counts[address, default: 0]
            guard current < limit else { return false }
            counts[address] = current + 1
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { [counts] _ in
            counts.withLockedValue { counts in
                let remaining = counts[address, default: 1] - 1
                counts[address] = remaining > 0 ? remaining : nil
            }
        }
        return true
    }
}
