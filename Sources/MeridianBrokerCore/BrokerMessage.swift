import MeridianMQTT
import NIOCore

/// An application message as the broker routes it: independent of any connection's
/// packet identifiers, topic aliases or subscription identifiers.
public struct BrokerMessage: Sendable {
    public var topic: String
    /// Shared with the received buffer; never copied when fanned out.
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    /// Properties forwarded unchanged (payload format, content type, response topic,
    /// correlation data, user properties). Message expiry is kept in `expiresAt` instead.
    public var properties: MQTTProperties
    /// When the message expires (MQTT 5 Message Expiry Interval), or nil.
    public var expiresAt: NIODeadline?
    /// Client identifier of the publisher, for No Local; nil for broker-originated messages.
    public var origin: String?
    /// Bridge links crossed to get here (``MeshTrace``); 0 for a message published by a local client.
    public var hops = 0
    /// Arrived from another node of the cluster over an inter-node link: routed to this node's
    /// sessions only, never forwarded again (the publishing node forwards to every node that wants it).
    public var fromPeer = false
    /// This broker's number for the message, unique while it runs; 0 until routed. Names the message
    /// to the brokers it is bridged to (``MeshTrace/identity(node:sequence:)``).
    public var sequence: UInt64 = 0
    /// When the broker accepted it from its publisher (for queue-age figures); nil when unknown.
    /// A message recovered from the store counts from the restart.
    public var acceptedAt: NIODeadline?
    /// The version of the topic's retained value this message set (``RetainedVersion``): given when
    /// a node takes a retained PUBLISH, carried to the other nodes; nil until then and on the edge's wire.
    public var retainedVersion: RetainedVersion?
    /// For a QoS 1/2 message from another node: the identity the node that took it from its publisher
    /// gave it (``MeshTrace/identity(node:sequence:)``), so that two copies reaching one session
    /// while it moves between nodes are delivered once.
    public var peerIdentity: String?

    public init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool,
        properties: MQTTProperties = [], expiresAt: NIODeadline? = nil, origin: String? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.expiresAt = expiresAt
        self.origin = origin
    }

    /// Builds the routed message from a received PUBLISH (topic alias already resolved).
    public init(publish: MQTTPublish, origin: String?, now: NIODeadline) {
        var properties = publish.properties
        var expiresAt: NIODeadline?
        if !properties.isEmpty {
            if let expiry = properties.messageExpiryInterval {
                expiresAt = now + .seconds(Int64(expiry))
            }
            properties.list.removeAll {
                switch $0 {
                case .topicAlias, .subscriptionIdentifier, .messageExpiryInterval: return true
                default: return false
                }
            }
        }
        self.init(
            topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
            properties: properties, expiresAt: expiresAt, origin: origin
        )
        acceptedAt = now
    }

    /// Whether the message has expired at `now`.
    @inlinable public func isExpired(at now: NIODeadline) -> Bool {
        if let expiresAt { return expiresAt <= now }
        return false
    }

    /// Remaining lifetime in whole seconds, rounded up, for the forwarded Message Expiry Interval.
    public func remainingExpiry(at now: NIODeadline) -> UInt32? {
        guard let expiresAt else { return nil }
        let nanos = expiresAt.uptimeNanoseconds &- min(now.uptimeNanoseconds, expiresAt.uptimeNanoseconds)
        return UInt32(clamping: (nanos + 999_999_999) / 1_000_000_000)
    }

    /// Approximate memory held by this message, for byte quotas.
    public var approximateSize: Int { topic.utf8.count + payload.readableBytes + 64 }
}

/// A message addressed to one session: the routed message plus what that subscription grants.
public struct Delivery: Sendable {
    public var message: BrokerMessage
    /// QoS after downgrade to the subscription's maximum.
    public var qos: MQTTQoS
    /// The RETAIN flag to send (set for retained messages sent on subscribe, or Retain As Published).
    public var retain: Bool
    /// Subscription identifiers of every matching subscription (MQTT 5).
    public var subscriptionIdentifiers: [UInt32]
    /// The `$share/<group>/<filter>` this delivery was chosen for, if any: such a delivery moves to
    /// another group member when this one disconnects before acknowledging it.
    public var sharedFilter: String?
    /// The row of this delivery in the durable store, for QoS 1/2 deliveries to persistent sessions.
    public var storeID: UInt64?

    public init(
        message: BrokerMessage, qos: MQTTQoS, retain: Bool, subscriptionIdentifiers: [UInt32] = [],
        sharedFilter: String? = nil, storeID: UInt64? = nil
    ) {
        self.message = message
        self.qos = qos
        self.retain = retain
        self.subscriptionIdentifiers = subscriptionIdentifiers
        self.sharedFilter = sharedFilter
        self.storeID = storeID
    }

    /// The PUBLISH to send, without packet identifier, DUP or topic alias.
    public func publish(packetIdentifier: UInt16?, dup: Bool, now: NIODeadline) -> MQTTPublish {
        var properties = message.properties
        if let remaining = message.remainingExpiry(at: now) {
            properties.append(.messageExpiryInterval(remaining))
        }
        for id in subscriptionIdentifiers { properties.append(.subscriptionIdentifier(id)) }
        return MQTTPublish(
            topic: message.topic, payload: message.payload, qos: qos, retain: retain, dup: dup,
            packetIdentifier: packetIdentifier, properties: properties
        )
    }
}
