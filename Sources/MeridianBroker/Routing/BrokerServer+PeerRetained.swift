import MeridianBrokerCore
import NIOCore

/// The exchange of retained values when an inter-node link comes up: each node sends the other
/// every topic's value and version (clears included), and each keeps the newer of two
/// (``RetainedMessages``). It repairs what live forwarding cannot: a node that joined later, or
/// was down while a QoS 0 retained message or a clear went by, ends with the cluster's values.
extension BrokerServer {
    /// Every topic's retained value and version, clears included, `$SYS` excepted.
    public func retainedSnapshot() -> [(topic: String, entry: RetainedMessages.Entry)] {
        broker.retainedSnapshot(now: clock.now)
    }

    /// A peer's value of `topic` (nil: cleared) from the exchange: kept, and stored, only if newer
    /// than this node's; never delivered to subscribers. - Returns: whether it was kept.
    @discardableResult
    public func mergeRetained(_ message: BrokerMessage?, topic: String, version: RetainedVersion, now: NIODeadline) -> Bool {
        broker.mergeRetained(message, topic: topic, version: version, now: now)
    }
}
