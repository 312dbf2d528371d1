/// The receiving side of QoS 2 for one session (MQTT 4.3.3, method B): the packet identifiers
/// received (PUBREC sent) and not yet released by PUBREL, bounded by the Receive Maximum the
/// server announced. A message is routed once, at its first arrival; a resend of an unreleased
/// identifier (DUP, or after a restart, since the set is kept in the store for persistent sessions)
/// is only acknowledged again. QoS 1 needs no state on the receiving side.
///
/// Pure value; the session's owner applies what it says (route, answer, persist, disconnect).
public struct InboundFlow: Sendable, Equatable {
    /// The most QoS 2 messages a client may have unreleased at once (`receive_maximum`).
    public let receiveMaximum: Int
    public private(set) var unreleased: Set<UInt16>

    public init(receiveMaximum: Int, unreleased: Set<UInt16> = []) {
        self.receiveMaximum = max(1, receiveMaximum)
        self.unreleased = unreleased
    }

    public enum Arrival: Sendable, Equatable {
        /// A new message: route it, record the identifier (durably for a persistent session), answer PUBREC.
        case route
        /// A resend of one already routed: answer PUBREC again, route nothing.
        case duplicate
        /// One more unreleased message than the Receive Maximum allows: disconnect with 0x93.
        case overReceiveMaximum
    }

    /// A QoS 2 PUBLISH arrived with `id`.
    public mutating func received(_ id: UInt16) -> Arrival {
        if unreleased.contains(id) { return .duplicate }
        guard unreleased.count < receiveMaximum else { return .overReceiveMaximum }
        unreleased.insert(id)
        return .route
    }

    /// A QoS 2 PUBLISH from another node of the cluster: as ``received(_:)``, except that a first
    /// transmission (DUP 0) is always a new message. A node resends only with DUP 1, so an unreleased
    /// identifier arriving with DUP 0 means the sender's session started over (a node restarted
    /// without its store) and this side's record of it is stale; routing nothing would lose it.
    /// The Receive Maximum does not apply: the sending node's window bounds what is unreleased.
    public mutating func receivedFromPeer(_ id: UInt16, dup: Bool) -> Arrival {
        if dup, unreleased.contains(id) { return .duplicate }
        unreleased.insert(id)
        return .route
    }

    /// The client's PUBREL: true when `id` was unreleased (answer PUBCOMP 0x00, and forget it in the
    /// store); false when it was not (MQTT 5 PUBCOMP 0x92 Packet Identifier not found).
    public mutating func released(_ id: UInt16) -> Bool {
        unreleased.remove(id) != nil
    }

    /// The message was not taken after all (refused for lack of room, or its commit failed): the
    /// identifier is free again, so the client's resend is a new arrival.
    public mutating func abandon(_ id: UInt16) {
        unreleased.remove(id)
    }
}
