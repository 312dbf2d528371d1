import MeridianBrokerCore

/// The seam to the other nodes of a cluster (the region tier; an edge has none): this node's
/// subscriptions are announced to them. Forwarding itself needs no seam: each other node has a
/// session here (``PeerSession``) subscribed to the filters it announced, so routing delivers to it.
///
/// The broker calls it under its own lock: an implementation takes only locks of its own and
/// never calls back into the broker.
public protocol ClusterRouting: AnyObject, Sendable {
    /// A session on this node subscribed to `filter` (a new subscription, not a changed one).
    func localSubscriptionAdded(_ filter: String)
    /// A session's subscription to `filter` ended (unsubscribe, or its session ended).
    func localSubscriptionRemoved(_ filter: String)
}
