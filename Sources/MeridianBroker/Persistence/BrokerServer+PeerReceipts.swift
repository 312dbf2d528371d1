import MeridianBrokerCore
import NIOCore

/// The receiving side of QoS 2 on an inter-node link, kept in this node's session of the peer
/// (`$meridian/peer/<node>`): the packet identifiers of messages the peer forwarded, routed here
/// and not yet released. With `persistence true` they are in the store too (as a persistent
/// client's are), so a resend after this node restarts is acknowledged without routing it again.
extension BrokerServer {
    public enum PeerReceipt: Sendable {
        /// A new message: route it; acknowledge it once `stored` (if any) and the routing committed.
        case route(stored: EventLoopFuture<Void>?)
        /// A resend of one routed already: acknowledge it again, route nothing.
        case duplicate
    }

    /// A QoS 2 message `id` (with its DUP flag) arrived from the peer whose session is `clientIdentifier`.
    public func peerQoS2Arrived(_ id: UInt16, dup: Bool, clientIdentifier: String, on eventLoop: EventLoop) -> PeerReceipt {
        guard let handle = broker.lock.withLock({ broker.sessions[clientIdentifier] }) else { return .route(stored: nil) }
        return handle.lock.withLock {
            guard handle.inbound.receivedFromPeer(id, dup: dup) != .duplicate else { return .duplicate }
            guard handle.isPersistent, let store = broker.store else { return .route(stored: nil) }
            return .route(stored: store.commit([.insertInboundQoS2(clientID: clientIdentifier, packetID: id)], on: eventLoop))
        }
    }

    /// The peer's PUBREL of `id`, or a message `id` this node did not take after all (`routed` false):
    /// the identifier is free again.
    public func peerQoS2Ended(_ id: UInt16, clientIdentifier: String) {
        guard let handle = broker.lock.withLock({ broker.sessions[clientIdentifier] }) else { return }
        handle.lock.withLock {
            guard handle.inbound.released(id), handle.isPersistent else { return }
            broker.store?.enqueue([.deleteInboundQoS2(clientID: clientIdentifier, packetID: id)])
        }
    }
}
