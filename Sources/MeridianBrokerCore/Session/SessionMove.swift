import MeridianMQTT
import NIOCore

/// A persistent session moving between two nodes of a cluster, as each end sees it: the rules that
/// keep what is on its way to the session from being lost or delivered twice. Pure: deliveries and
/// the time in, decisions out; the broker carries them out under the session's lock.
public enum SessionMove {
    /// The old node's side. Other nodes route to the old node until the new node's routes reach
    /// them, so the session stays there a little longer and sends what still comes for it after
    /// its state: held while the state is handed over, forwarded once it was.
    public struct Departed: Sendable {
        /// The node the session moved to.
        public let node: String
        private var held: [Delivery]? = []

        public init(to node: String) {
            self.node = node
        }

        public enum Decision: Sendable, Equatable {
            /// Kept until the state is handed over (``handedOver()``), to go after it in order.
            case held
            /// To the new node, marked for the session.
            case forward(to: String)
            /// QoS 0: not forwarded (it may be lost in a move, never delivered twice).
            case drop
        }

        /// A delivery routed to the session after its state left.
        public mutating func offer(_ delivery: Delivery) -> Decision {
            if delivery.qos == .atMostOnce { return .drop }
            if held != nil {
                held!.append(delivery)
                return .held
            }
            return .forward(to: node)
        }

        /// The state was handed to this node's session of the new node: the deliveries held
        /// meanwhile, in order, to forward now. Called until it returns none: a delivery that comes
        /// while the last ones are forwarded is held too, so the order stays.
        public mutating func handedOver() -> [Delivery] {
            let taken = held ?? []
            held = taken.isEmpty ? nil : []
            return taken
        }
    }

    /// The new node's side: the copy of a message that came directly and the one forwarded by the
    /// old node are one delivery. Remembers the identities (``BrokerMessage/peerIdentity``, or this
    /// node's for its own messages) of the QoS 1/2 messages delivered to the session, for a while
    /// after it moved in.
    public struct Arrived: Sendable {
        private var identities: RecentMessageIDs
        public let until: NIODeadline

        /// - Parameters:
        ///   - window: how long copies may keep coming (longer than the old node forwards).
        ///   - capacity: how many identities are remembered at most.
        public init(at now: NIODeadline, window: TimeAmount, capacity: Int) {
            identities = RecentMessageIDs(capacity: capacity)
            until = now + window
        }

        /// Whether the time for second copies is over (the session forgets this state).
        public func isOver(at now: NIODeadline) -> Bool { now >= until }

        /// Whether a QoS 1/2 message with `identity` was delivered to the session already (then
        /// this copy is not); remembers it otherwise. QoS 0 is never a second copy: it is not forwarded.
        public mutating func isSecondCopy(identity: String, qos: MQTTQoS) -> Bool {
            guard qos != .atMostOnce else { return false }
            return !identities.insert(identity)
        }
    }
}
