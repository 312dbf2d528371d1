import MeridianMQTT
import NIOCore

/// How durable a commit is before it is reported done (`persistence_sync`).
public enum StoreSync: String, Sendable {
    /// Survives a process crash (WAL, `synchronous=NORMAL`).
    case normal
    /// Survives power loss: fsync before the commit is reported (`synchronous=FULL`).
    case full
}

/// What the store is asked to do; operations are applied in submission order.
public enum StoreOperation: Sendable {
    case upsertSession(StoredSession)
    /// Removes the session and everything that belongs to it (subscriptions, messages, QoS 2 ids, will).
    case deleteSession(clientID: String)
    /// Records when the session went offline (seconds since the Unix epoch), for expiry across restarts.
    case markSessionDisconnected(clientID: String, at: Int64)
    case markSessionConnected(clientID: String)
    case upsertSubscription(clientID: String, filter: String, options: MQTTSubscriptionOptions, identifier: UInt32?)
    case deleteSubscription(clientID: String, filter: String)
    /// Appends a message to a session's queue; `messageID` orders the queue and identifies the row.
    case appendMessage(clientID: String, messageID: UInt64, StoredMessage)
    /// A QoS 2 message was sent with `packetID` (`released == false`), or the client's PUBREC arrived (`released == true`).
    case updateMessageState(clientID: String, messageID: UInt64, packetID: UInt16, released: Bool)
    case deleteMessage(clientID: String, messageID: UInt64)
    case insertInboundQoS2(clientID: String, packetID: UInt16)
    case deleteInboundQoS2(clientID: String, packetID: UInt16)
    /// Stores the retained message of `topic`; with nil, deletes it, or with a `version` (a cluster's)
    /// keeps the clear and its version. `version` is the ``RetainedVersion`` of the broker's core.
    case putRetained(topic: String, StoredMessage?, version: (time: Int64, node: String)? = nil)
    /// Deletes the kept clears of retained messages whose version time is before `time` (Unix nanoseconds).
    case forgetRetainedClears(before: Int64)
    /// A will waiting for its delay, due at `dueAt` (seconds since the Unix epoch).
    case putWill(clientID: String, StoredMessage, dueAt: Int64)
    case deleteWill(clientID: String)
    /// Keeps (or, with nil, deletes) one value of a bridge link's own state, such as the highest
    /// epoch it has seen of its remote.
    case putBridgeState(bridge: String, key: String, value: String?)
}

/// Who a persistent session's client was, as far as authorisation goes.
public enum StoredSessionIdentity: Sendable, Equatable {
    /// A network client, with the username it logged in with (nil: anonymous).
    case client(username: String?)
    /// The broker's own in-process client (a bridge's local side).
    case trusted
}

/// A persistent session's row.
public struct StoredSession: Sendable, Equatable {
    public var clientID: String
    /// Session Expiry Interval in seconds; UInt32.max = never.
    public var expiryInterval: UInt32
    public var protocolVersion: MQTTProtocolVersion
    /// Seconds since the Unix epoch when it went offline; nil while connected.
    public var disconnectedAt: Int64?
    /// Who its client was; nil when unknown (a row written before schema version 2).
    public var identity: StoredSessionIdentity?

    public init(
        clientID: String, expiryInterval: UInt32, protocolVersion: MQTTProtocolVersion, disconnectedAt: Int64? = nil,
        identity: StoredSessionIdentity? = nil
    ) {
        self.clientID = clientID
        self.expiryInterval = expiryInterval
        self.protocolVersion = protocolVersion
        self.disconnectedAt = disconnectedAt
        self.identity = identity
    }
}

/// An application message as stored: what is needed to send it again after a restart.
public struct StoredMessage: Sendable, Equatable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    /// Properties forwarded with the message (MQTT 5), stored encoded.
    public var properties: MQTTProperties
    /// Seconds since the Unix epoch when the message expires; nil = never.
    public var expiresAt: Int64?
    /// Subscription identifiers to send with it.
    public var subscriptionIdentifiers: [UInt32]

    public init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties = [],
        expiresAt: Int64? = nil, subscriptionIdentifiers: [UInt32] = []
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.expiresAt = expiresAt
        self.subscriptionIdentifiers = subscriptionIdentifiers
    }
}

/// A queued message of a session as recovered at start-up, in queue order.
public struct RecoveredMessage: Sendable, Equatable {
    public var messageID: UInt64
    public var message: StoredMessage
    /// Set for QoS 2 messages already sent: their packet identifier and whether PUBREC arrived.
    public var packetID: UInt16?
    public var released: Bool

    public init(messageID: UInt64, message: StoredMessage, packetID: UInt16? = nil, released: Bool = false) {
        self.messageID = messageID
        self.message = message
        self.packetID = packetID
        self.released = released
    }
}

/// Everything a persistent session had when the broker stopped.
public struct RecoveredSession: Sendable, Equatable {
    public var session: StoredSession
    public var subscriptions: [(filter: String, options: MQTTSubscriptionOptions, identifier: UInt32?)]
    public var messages: [RecoveredMessage]
    public var inboundQoS2: [UInt16]

    public init(
        session: StoredSession,
        subscriptions: [(filter: String, options: MQTTSubscriptionOptions, identifier: UInt32?)] = [],
        messages: [RecoveredMessage] = [], inboundQoS2: [UInt16] = []
    ) {
        self.session = session
        self.subscriptions = subscriptions
        self.messages = messages
        self.inboundQoS2 = inboundQoS2
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.session == b.session && a.messages == b.messages && a.inboundQoS2 == b.inboundQoS2
            && a.subscriptions.map(\.filter) == b.subscriptions.map(\.filter)
            && a.subscriptions.map(\.options) == b.subscriptions.map(\.options)
            && a.subscriptions.map(\.identifier) == b.subscriptions.map(\.identifier)
    }
}

/// Who the broker is, across restarts: its id, made once when the store is created, and the
/// number of this start (incremented every time the store is opened). Message identities on
/// bridges (and, later, routes between nodes) are stamped with both, so that nothing from an
/// earlier run can be mistaken for something new.
public struct StoredNodeIdentity: Sendable, Equatable {
    public var id: String
    public var incarnation: UInt64

    public init(id: String, incarnation: UInt64) {
        self.id = id
        self.incarnation = incarnation
    }

    /// A random id in base 36 (lowercase letters and digits).
    public static func randomID() -> String {
        String(UInt64.random(in: 1...UInt64.max), radix: 36)
    }
}

/// A topic's retained value as stored: its message, or nil for a kept clear (a cluster's), and the
/// version it was stored with (nil for the edge's rows and rows written before versions).
public struct StoredRetained: Sendable {
    public var topic: String
    public var message: StoredMessage?
    public var version: (time: Int64, node: String)?

    public init(topic: String, message: StoredMessage?, version: (time: Int64, node: String)?) {
        self.topic = topic
        self.message = message
        self.version = version
    }
}

/// The store's content at start-up.
public struct RecoveredState: Sendable {
    public var sessions: [RecoveredSession]
    public var retained: [StoredRetained]
    public var wills: [(clientID: String, message: StoredMessage, dueAt: Int64)]
    /// The largest message id in use: new ids must be larger.
    public var lastMessageID: UInt64
    /// The broker's identity for this start (nil only for a state not read from a store).
    public var node: StoredNodeIdentity?
    /// Each bridge link's own state, by bridge name, then key.
    public var bridgeState: [String: [String: String]] = [:]

    public init(
        sessions: [RecoveredSession] = [], retained: [StoredRetained] = [],
        wills: [(clientID: String, message: StoredMessage, dueAt: Int64)] = [], lastMessageID: UInt64 = 0
    ) {
        self.sessions = sessions
        self.retained = retained
        self.wills = wills
        self.lastMessageID = lastMessageID
    }
}

/// Why a commit failed.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// SQLITE_FULL or an I/O error writing (disk or file-size limit reached): new messages are refused.
        case full
        case io
        /// The file's schema is newer than this build understands.
        case newerSchema
        case closed
        case other
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}
