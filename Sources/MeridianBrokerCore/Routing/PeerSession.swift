import MeridianMQTT

/// The sessions a region node keeps for the other nodes of its cluster: one per peer, named
/// `$meridian/peer/<node>`, subscribed to the filters that node announced. Routing a message to
/// such a session is forwarding it to that node, so a QoS 1/2 message waits in the session's
/// store-backed queue (the edge's store-and-forward, reused) until the peer has committed it.
///
/// Only the node's own inter-node link may use these identifiers (a client that tries is refused),
/// a message that came from another node is never routed to one (the publishing node forwards to
/// every node that wants it), and their subscriptions are never announced as this node's routes.
public enum PeerSession {
    public static let clientIdentifierPrefix = "$meridian/peer/"

    public static func clientIdentifier(for node: String) -> String { clientIdentifierPrefix + node }

    @inlinable
    public static func isPeer(_ clientIdentifier: String) -> Bool { clientIdentifier.hasPrefix(clientIdentifierPrefix) }

    /// Every peer subscription: QoS 2, so a message crosses at the QoS it was published with (each
    /// receiving subscriber's own maximum applies on its node); the retain flag as published, for the
    /// receiver's retained store and Retain As Published; no retained messages on subscribe (the
    /// peer has its own).
    public static let subscriptionOptions = MQTTSubscriptionOptions(
        qos: .exactlyOnce, noLocal: false, retainAsPublished: true, retainHandling: .doNotSend)

    /// The user property that marks a delivery to a peer session made for a shared group: the
    /// receiving node gives it to one member of that group (and to nothing else).
    public static let sharedGroupKey = "meridian-share"

    /// The user property that carries a retained message's ``RetainedVersion`` to a peer.
    public static let retainedVersionKey = "meridian-retained-version"

    /// The user property that marks a retained value sent in the exchange at link-up (its QoS, then
    /// its version): kept, not delivered.
    public static let retainedValueKey = "meridian-retained-value"

    /// The user property with a QoS 1/2 message's identity (``BrokerMessage/peerIdentity``).
    public static let identityKey = "meridian-origin"

    /// The user property that marks a message a node forwards for a session that moved from it to
    /// the receiving node: delivered to that session only.
    public static let movedSessionKey = "meridian-moved-session"

    /// Removes the marks above from a message's properties: a node adds its own, and a client's
    /// user properties of the same names must not be read as them.
    @inlinable
    public static func removeMarks(from properties: inout MQTTProperties) {
        guard !properties.isEmpty else { return }
        properties.list.removeAll {
            guard case .userProperty(let key, _) = $0 else { return false }
            return key == sharedGroupKey || key == retainedVersionKey || key == retainedValueKey || key == identityKey
                || key == movedSessionKey
        }
    }

    /// How long a peer session outlives its last link (seconds): a node gone for longer loses what waited for it.
    public static let expiryInterval: UInt32 = 7 * 24 * 3600
}
