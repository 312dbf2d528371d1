import MeridianBrokerCore
import NIOCore

/// The seam to the other nodes of a cluster (the region tier; an edge has none): messages
/// published here go to the nodes that want them, and this node's subscriptions are announced.
///
/// The broker calls it from any of its event loops and, for subscriptions, under its own lock:
/// an implementation takes only locks of its own and never calls back into the broker.
public protocol ClusterRouting: AnyObject, Sendable {
    /// A message published on this node (by a client, a bridge, or a will) was routed here: hand it
    /// to the other nodes that want it. Returns how many nodes it went to, so that an MQTT 5
    /// publisher hears "no matching subscribers" only when no node anywhere has one.
    func forward(_ message: BrokerMessage, now: NIODeadline) -> Int
    /// A session on this node subscribed to `filter` (a new subscription, not a changed one).
    func localSubscriptionAdded(_ filter: String)
    /// A session's subscription to `filter` ended (unsubscribe, or its session ended).
    func localSubscriptionRemoved(_ filter: String)
}
