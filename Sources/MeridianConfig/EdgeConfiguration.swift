import MeridianBridgeCore

/// The settings of one `meridian-edge` process, as read from a mosquitto-style
/// configuration file by ``EdgeConfigParser``.
///
/// `EdgeConfiguration()` holds the defaults, which are mosquitto 2.0's except where a
/// property's documentation says otherwise. Option names are mosquitto's
/// (see mosquitto.conf(5)); `edge/meridian-edge.conf` shows every option with its default.
///
/// - Important: Mosquitto sets `max_qos` and `max_topic_alias` per listener. Meridian
///   reads them as broker-wide settings, wherever they appear in the file.
public struct EdgeConfiguration: Equatable, Sendable {
    /// The listeners, in the order of their `listener` (or deprecated `port`) lines.
    ///
    /// Empty when the file has no listener line; the executable then uses its default
    /// listener.
    public var listeners: [Listener]

    /// `allow_anonymous`: whether clients that give no username may connect.
    /// Default `false`, as in mosquitto 2.0.
    public var allowAnonymous: Bool

    /// `max_keepalive`: the largest keep-alive a client may use, 0...65535, default 65535.
    ///
    /// A client asking for keep-alive 0 or for more than this is capped to it (MQTT 5
    /// Server Keep Alive). Mosquitto 2.0 reads `max_keepalive 0` as "clients may use
    /// keep-alive 0".
    public var maxKeepalive: UInt16

    /// `max_packet_size`: the largest MQTT packet accepted, in bytes; 0 means no limit
    /// (default). A non-zero value must be at least 20.
    public var maxPacketSize: Int

    /// `message_size_limit`: the largest PUBLISH payload accepted, in bytes, at most
    /// 268,435,455; 0 means no limit (default).
    public var messageSizeLimit: Int

    /// `max_inflight_messages`: QoS 1 and 2 messages in flight per client, 0...65535;
    /// 0 means no limit. Default 20.
    public var maxInflightMessages: Int

    /// `max_inflight_bytes`: payload bytes in flight per client; 0 means no limit (default).
    public var maxInflightBytes: Int

    /// `max_queued_messages`: messages queued per client beyond those in flight; 0 means
    /// no limit. Default 1000.
    public var maxQueuedMessages: Int

    /// `max_queued_bytes`: payload bytes queued per client; 0 means no limit (default).
    public var maxQueuedBytes: Int

    /// `queue_qos0_messages`: whether QoS 0 messages are queued for offline persistent
    /// clients. Default `false`.
    public var queueQoS0Messages: Bool

    /// `allow_cross_user_takeover` (Meridian addition): whether a client may connect with the
    /// client id of a session another username created. Default `false`: the CONNECT is refused
    /// (0x87 / 5) and the owner keeps its session.
    public var allowCrossUserTakeover: Bool

    /// `retain_available`: whether clients may publish retained messages. Default `true`.
    public var retainAvailable: Bool

    /// `max_qos`: the highest QoS the broker supports, 0...2. Default 2.
    /// Broker-wide in Meridian (per listener in mosquitto).
    public var maxQoS: Int

    /// `max_topic_alias`: the Topic Alias Maximum offered to MQTT 5 clients, 0...65535.
    /// Default 10. Broker-wide in Meridian (per listener in mosquitto).
    public var maxTopicAlias: Int

    /// `persistent_client_expiration`: seconds after which a disconnected persistent
    /// client's session is removed; `nil` (default) means never.
    ///
    /// Written as a number and a unit: `s`, `h`, `d`, `w`, `m` (30 days) or `y` (365
    /// days), for example `14d`.
    public var persistentClientExpiration: Int?

    /// `sys_interval`: seconds between `$SYS` updates, 0...65535; 0 disables `$SYS`.
    /// Default 10.
    public var sysInterval: Int

    /// `set_tcp_nodelay`: whether client sockets get `TCP_NODELAY`.
    ///
    /// - Important: Meridian's default is `true`; mosquitto's is `false`. An edge broker
    ///   relays small packets, and Nagle's algorithm only delays them.
    public var setTCPNoDelay: Bool

    /// `log_type`: the kinds of log message written. Default: error, warning, notice and
    /// information. Empty after `log_type none`.
    public var logTypes: Set<LogType>

    /// `log_dest`: where log messages go, in the order first given, without repeats.
    /// Default `[.stderr]`; `[.none]` after `log_dest none` (``LogDestination/none``
    /// never appears with another destination).
    public var logDestinations: [LogDestination]

    /// `connection_messages`: whether client connects and disconnects are logged.
    /// Default `true`.
    public var connectionMessages: Bool

    /// `persistence`: whether sessions and retained messages are saved to disk.
    /// Default `false`.
    public var persistence: Bool

    /// `persistence_location`: the directory persistent data is saved in; `nil` (default)
    /// means the working directory.
    public var persistenceLocation: String?

    /// `clientid_prefixes`: if set, only clients whose client identifier starts with this
    /// prefix may connect. Default `nil`: all client identifiers are allowed.
    public var clientIDPrefixes: String?

    /// `password_file`: a Mosquitto password file (`mosquitto_passwd`, `$6$` or `$7$` hashes);
    /// clients that give a username must give its password. `nil` (default): no password check.
    /// Re-read on SIGHUP.
    public var passwordFile: String?

    /// `acl_file`: a Mosquitto ACL file. When set, clients may publish, subscribe and receive only
    /// what it grants (deny by default). `nil` (default): no access control. Re-read on SIGHUP.
    public var aclFile: String?

    /// `max_publish_rate` (Meridian addition): PUBLISH packets per second a client may send,
    /// with bursts of up to one second's worth; excess messages are refused (MQTT 5: 0x96) or
    /// dropped, and counted. 0 (default) means no limit.
    public var maxPublishRate: Int

    /// What happens when an online client's queue is full (`queue_full_policy`, Meridian addition).
    public enum QueueFullPolicy: String, Equatable, Sendable, CaseIterable {
        /// Drop the new message, count and log it (Mosquitto's behaviour).
        case drop
        /// Keep the message and stop reading from the publishers until the queue drains.
        case backpressure
    }

    /// `queue_full_policy drop|backpressure` (Meridian addition). Default `drop`.
    public var queueFullPolicy: QueueFullPolicy

    /// How durable an acknowledged message is (`persistence_sync`, Meridian addition).
    public enum PersistenceSync: String, Equatable, Sendable, CaseIterable {
        /// Survives a crash of the process (SQLite WAL, synchronous=NORMAL).
        case normal
        /// Survives power loss: fsync before the acknowledgement (synchronous=FULL).
        case full
    }

    /// `persistence_sync normal|full`. Default `normal`.
    public var persistenceSync: PersistenceSync

    /// `persistence_commit_delay <ms>` (Meridian addition): how long the store waits after the
    /// first write to gather more into one commit. 0 (default) commits as soon as the previous
    /// commit is done; a few milliseconds mean fewer, larger commits (less flash wear, more latency).
    public var persistenceCommitDelay: Int

    /// `persistence_min_free <bytes>` (Meridian addition): below this much free space on the
    /// store's file system, new QoS 1/2 messages that would have to be stored are refused (MQTT 5:
    /// 0x97), so the disk never fills up. 0 disables the floor. Default 16 MiB.
    public var persistenceMinFree: Int

    /// `connect_timeout` (Meridian addition): seconds a new connection may take to send
    /// CONNECT before it is closed. Default 10.
    public var connectTimeout: Int

    /// `bridge_max_hops` (Meridian addition): bridge links a message may cross. A message that
    /// crossed this many is delivered to local subscribers but not sent over another bridge; 1 suits
    /// a full mesh. Default 8.
    public var bridgeMaxHops: Int

    /// `http_listener` (Meridian addition): where `/metrics`, `/healthz` and `/readyz` are
    /// served; `nil` (default) serves none of them. A later line replaces an earlier one.
    public var httpListener: HTTPListener?

    /// `ready_requires_bridge true|false` (Meridian addition): whether `/readyz` also requires
    /// every configured bridge to be connected to its remote. Default `false`: a gateway whose
    /// uplink is down still serves its devices, so it is ready.
    public var readyRequiresBridge: Bool

    /// The bridges, one per `connection <name>` block, in the order of their `connection`
    /// lines. Empty (default) when the files have none.
    ///
    /// A block is the `connection` line and the bridge options after it, up to the next
    /// `connection` line or the end of its file (mosquitto's rule). Inside a block,
    /// `max_queued_messages` and `max_queued_bytes` set the bridge's outbox bounds, not
    /// the broker-wide client limits. `bridge.conf.example` documents every option.
    public var bridges: [BridgeSettings]

    /// The log types written when the file has no `log_type` line.
    public static let defaultLogTypes: Set<LogType> = [.error, .warning, .notice, .information]

    /// A configuration with every setting at its default.
    public init() {
        self.listeners = []
        self.allowAnonymous = false
        self.maxKeepalive = 65535
        self.maxPacketSize = 0
        self.messageSizeLimit = 0
        self.maxInflightMessages = 20
        self.maxInflightBytes = 0
        self.maxQueuedMessages = 1000
        self.maxQueuedBytes = 0
        self.queueQoS0Messages = false
        self.allowCrossUserTakeover = false
        self.retainAvailable = true
        self.maxQoS = 2
        self.maxTopicAlias = 10
        self.persistentClientExpiration = nil
        self.sysInterval = 10
        self.setTCPNoDelay = true
        self.logTypes = Self.defaultLogTypes
        self.logDestinations = [.stderr]
        self.connectionMessages = true
        self.persistence = false
        self.persistenceLocation = nil
        self.clientIDPrefixes = nil
        self.passwordFile = nil
        self.aclFile = nil
        self.maxPublishRate = 0
        self.connectTimeout = 10
        self.bridgeMaxHops = 8
        self.queueFullPolicy = .drop
        self.persistenceSync = .normal
        self.persistenceCommitDelay = 0
        self.persistenceMinFree = 16 * 1024 * 1024
        self.httpListener = nil
        self.readyRequiresBridge = false
        self.bridges = []
    }
}
