import MeridianMQTT

/// The limits and switches the broker core enforces, from the configuration file.
public struct BrokerSettings: Sendable, Equatable {
    /// Largest keep-alive a client may use; 0 or more is capped and announced as Server Keep Alive.
    public var maxKeepalive: UInt16 = 65_535
    /// Largest packet accepted from a client, in bytes (0 = the protocol maximum).
    public var maxPacketSize: Int = 0
    /// Largest payload accepted (`message_size_limit`, 0 = none).
    public var messageSizeLimit: Int = 0
    /// Topic Alias Maximum offered to MQTT 5 clients.
    public var maxTopicAlias: UInt16 = 10
    public var maxQoS: MQTTQoS = .exactlyOnce
    public var retainAvailable = true
    /// Whether a client may take over a session another username created (`allow_cross_user_takeover`).
    public var allowCrossUserTakeover = false
    /// Receive Maximum offered to MQTT 5 clients (QoS 2 messages awaiting PUBREL).
    public var receiveMaximum: UInt16 = 65_535
    public var sessionLimits = OutboundFlow.Limits()
    /// Seconds after which a disconnected persistent session is removed (`persistent_client_expiration`); nil = never.
    public var persistentClientExpiration: UInt32?
    /// PUBLISH packets per second a client may send (`max_publish_rate`); 0 = no limit.
    public var maxPublishRate = 0
    /// Seconds a new connection may take to send CONNECT.
    public var connectTimeout: Int64 = 10
    /// Only client identifiers with this prefix may connect (`clientid_prefixes`); nil = any.
    public var clientIdentifierPrefix: String?
    /// Free bytes kept on the store's file system; below it, new stored messages are refused. 0 = off.
    public var minimumFreeDiskBytes: Int = 0
    /// Log a line per connect and disconnect (`connection_messages`).
    public var connectionMessages = true
    /// Log a line per subscription (`log_type subscribe`).
    public var logSubscriptions = false
    /// `bridge_max_hops`: a message that crossed this many bridge links is delivered here but not
    /// sent over another bridge (``MeshTrace``). 1 suits a full mesh: every message crosses one link.
    public var maxBridgeHops = 8
    /// Identities of messages received over bridges remembered to drop second copies (``MeshTrace``).
    public var recentBridgeMessageIDs = 65_536

    public init() {}

    /// The packet size limit the parser enforces.
    public var effectiveMaxPacketSize: Int {
        maxPacketSize == 0 ? MQTTPacketParser.absoluteMaximumPacketSize : maxPacketSize
    }
}
