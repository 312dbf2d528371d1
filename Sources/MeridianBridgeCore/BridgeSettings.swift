import MeridianMQTT

/// Which way a `topic` rule carries messages (Mosquitto's `in`, `out`, `both`).
public enum BridgeDirection: String, Sendable, Equatable, CaseIterable {
    /// Remote to local.
    case `in`
    /// Local to remote.
    case out
    case both
}

/// One `topic <pattern> [in|out|both] [qos] [local-prefix] [remote-prefix]` line.
public struct BridgeTopicRule: Sendable, Equatable {
    public var pattern: String
    public var direction: BridgeDirection
    public var qos: MQTTQoS
    public var localPrefix: String
    public var remotePrefix: String

    public init(pattern: String, direction: BridgeDirection = .out, qos: MQTTQoS = .atMostOnce, localPrefix: String = "", remotePrefix: String = "") {
        self.pattern = pattern
        self.direction = direction
        self.qos = qos
        self.localPrefix = localPrefix
        self.remotePrefix = remotePrefix
    }
}

/// What happens when a bridge's outbox is full (Meridian addition `queue_overflow`).
public enum BridgeQueueOverflow: String, Sendable, Equatable, CaseIterable {
    /// Drop the oldest queued message to make room.
    case dropOldest = "drop-oldest"
    /// Drop the new message.
    case dropNewest = "drop-newest"
    /// Refuse the new message: MQTT 5 publishers get 0x97 Quota exceeded.
    case refuse
}

/// One remote address of a bridge.
public struct BridgeAddress: Sendable, Equatable {
    public var host: String
    public var port: Int
    public init(host: String, port: Int = 1883) {
        self.host = host
        self.port = port
    }
}

/// A bridge `connection` block, with Mosquitto's defaults and Meridian's additions.
///
/// The defaults are those mosquitto 2.0 gives a new bridge (src/conf.c, `connection`:
/// keepalive 60, backoff 5 to 30 s, threshold 10, idle_timeout 60, protocol MQTT 3.1.1,
/// notifications, try_private, outgoing retain and attempt_unsubscribe on), as documented
/// in `bridge.conf.example`.
public struct BridgeSettings: Sendable, Equatable {
    public enum StartType: String, Sendable, Equatable, CaseIterable { case automatic, lazy, once }
    public enum ProtocolVersion: String, Sendable, Equatable, CaseIterable {
        case mqttv311, mqttv50
    }

    /// The `connection <name>` of the block.
    public var name: String
    public var addresses: [BridgeAddress] = []
    public var roundRobin = false
    public var topics: [BridgeTopicRule] = []
    /// `remote_clientid` (Mosquitto default: `<hostname>.<name>`).
    public var remoteClientID: String?
    /// `local_clientid` (Mosquitto default: `local.<remote_clientid>`).
    public var localClientID: String?
    public var remoteUsername: String?
    public var remotePassword: String?
    public var cleanSession = false
    public var localCleanSession: Bool?
    public var keepaliveInterval: UInt16 = 60
    /// `restart_timeout <base> [<cap>]`: seconds; with a cap, backoff with jitter between them;
    /// without one (`restartTimeoutCap == nil`), a constant wait of `restartTimeoutBase`.
    public var restartTimeoutBase: Int = 5
    public var restartTimeoutCap: Int? = 30
    public var startType: StartType = .automatic
    public var threshold: Int = 10
    public var idleTimeout: Int = 60
    public var notifications = true
    public var notificationsLocalOnly = false
    public var notificationTopic: String?
    public var tryPrivate = true
    public var protocolVersion: ProtocolVersion = .mqttv311
    public var outgoingRetain = true
    /// `bridge_max_packet_size`, 0 = none.
    public var maxPacketSize: Int = 0
    public var attemptUnsubscribe = true
    // TLS (parsed; used by the security issue).
    public var cafile: String?
    public var capath: String?
    public var certfile: String?
    public var keyfile: String?
    public var insecure = false
    public var tlsVersion: String?
    public var alpn: String?
    // Meridian additions.
    /// Outbox bound in messages, 0 = none.
    public var maxQueuedMessages: Int = 0
    /// Outbox bound in bytes, 0 = none.
    public var maxQueuedBytes: Int = 0
    /// Seconds after which a queued message is dropped, 0 = never.
    public var maxMessageAge: Int = 0
    public var queueOverflow: BridgeQueueOverflow = .dropOldest
    public var queueQoS0 = true
    /// Messages in flight while draining (capped by the remote's Receive Maximum).
    public var drainMaxInflight: Int = 100
    /// `drain_rate <messages/s> [<bytes/s>]`, 0 = unlimited.
    public var drainRateMessages: Int = 0
    public var drainRateBytes: Int = 0
    /// Session Expiry Interval sent by MQTT 5 bridges with `cleansession false`.
    public var sessionExpiryInterval: UInt32 = 86_400

    public init(name: String) { self.name = name }
}
