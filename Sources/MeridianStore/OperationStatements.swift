import MeridianMQTT
import NIOCore

/// The prepared statements that apply ``StoreOperation``s, prepared once per connection.
final class OperationStatements {
    private let upsertSession: SQLiteStatement
    private let deleteSessionRows: [SQLiteStatement]
    private let markDisconnected: SQLiteStatement
    private let markConnected: SQLiteStatement
    private let upsertSubscription: SQLiteStatement
    private let deleteSubscription: SQLiteStatement
    private let appendMessage: SQLiteStatement
    private let updateMessageState: SQLiteStatement
    private let deleteMessage: SQLiteStatement
    private let insertInboundQoS2: SQLiteStatement
    private let deleteInboundQoS2: SQLiteStatement
    private let putRetained: SQLiteStatement
    private let deleteRetained: SQLiteStatement
    private let forgetRetainedClears: SQLiteStatement
    private let putWill: SQLiteStatement
    private let deleteWill: SQLiteStatement
    private let putBridgeState: SQLiteStatement
    private let deleteBridgeState: SQLiteStatement

    private var all: [SQLiteStatement] {
        deleteSessionRows + [
            upsertSession, markDisconnected, markConnected, upsertSubscription, deleteSubscription, appendMessage,
            updateMessageState, deleteMessage, insertInboundQoS2, deleteInboundQoS2, putRetained, deleteRetained,
            forgetRetainedClears,
            putWill, deleteWill, putBridgeState, deleteBridgeState,
        ]
    }

    /// The columns of a ``StoredMessage``, in the order ``bindMessage(_:_:from:_:)`` binds them.
    static let messageColumns = "topic, payload, qos, retain, properties, expires_at, subscription_ids"
    private static let messagePlaceholders = "?, ?, ?, ?, ?, ?, ?"

    init(_ db: SQLiteDatabase) throws {
        func prepare(_ sql: String) throws -> SQLiteStatement { try db.prepare(sql, persistent: true) }
        upsertSession = try prepare(
            "INSERT OR REPLACE INTO sessions (client_id, expiry, protocol_version, disconnected_at, identity, username) "
                + "VALUES (?, ?, ?, ?, ?, ?)")
        deleteSessionRows = try ["sessions", "subscriptions", "messages", "inbound_qos2", "wills"].map {
            try prepare("DELETE FROM \($0) WHERE client_id = ?")
        }
        markDisconnected = try prepare("UPDATE sessions SET disconnected_at = ? WHERE client_id = ?")
        markConnected = try prepare("UPDATE sessions SET disconnected_at = NULL WHERE client_id = ?")
        upsertSubscription = try prepare(
            "INSERT OR REPLACE INTO subscriptions (client_id, filter, options, identifier) VALUES (?, ?, ?, ?)")
        deleteSubscription = try prepare("DELETE FROM subscriptions WHERE client_id = ? AND filter = ?")
        appendMessage = try prepare(
            "INSERT OR REPLACE INTO messages (client_id, message_id, \(Self.messageColumns)) "
                + "VALUES (?, ?, \(Self.messagePlaceholders))")
        updateMessageState = try prepare(
            "UPDATE messages SET packet_id = ?, released = ? WHERE client_id = ? AND message_id = ?")
        deleteMessage = try prepare("DELETE FROM messages WHERE client_id = ? AND message_id = ?")
        insertInboundQoS2 = try prepare("INSERT OR IGNORE INTO inbound_qos2 (client_id, packet_id) VALUES (?, ?)")
        deleteInboundQoS2 = try prepare("DELETE FROM inbound_qos2 WHERE client_id = ? AND packet_id = ?")
        putRetained = try prepare(
            "INSERT OR REPLACE INTO retained (topic, \(Self.messageColumns), version_time, version_node) "
                + "VALUES (?, \(Self.messagePlaceholders), ?, ?)")
        deleteRetained = try prepare("DELETE FROM retained WHERE topic = ?")
        forgetRetainedClears = try prepare("DELETE FROM retained WHERE length(payload) = 0 AND version_time < ?")
        putWill = try prepare(
            "INSERT OR REPLACE INTO wills (client_id, \(Self.messageColumns), due_at) "
                + "VALUES (?, \(Self.messagePlaceholders), ?)")
        deleteWill = try prepare("DELETE FROM wills WHERE client_id = ?")
        putBridgeState = try prepare("INSERT OR REPLACE INTO bridge_state (bridge, key, value) VALUES (?, ?, ?)")
        deleteBridgeState = try prepare("DELETE FROM bridge_state WHERE bridge = ? AND key = ?")
    }

    func finalize() {
        for statement in all { statement.finalize() }
    }

    /// Applies one operation inside the caller's transaction.
    func apply(_ operation: StoreOperation) throws {
        switch operation {
        case .upsertSession(let session):
            try upsertSession.bind(1, session.clientID)
            try upsertSession.bind(2, Int64(session.expiryInterval))
            try upsertSession.bind(3, Int64(session.protocolVersion.rawValue))
            try upsertSession.bind(4, session.disconnectedAt)
            switch session.identity {
            case nil:
                try upsertSession.bindNull(5)
                try upsertSession.bindNull(6)
            case .client(let username):
                try upsertSession.bind(5, Int64(1))
                if let username { try upsertSession.bind(6, username) } else { try upsertSession.bindNull(6) }
            case .trusted:
                try upsertSession.bind(5, Int64(2))
                try upsertSession.bindNull(6)
            }
            try upsertSession.run()

        case .deleteSession(let clientID):
            for statement in deleteSessionRows {
                try statement.bind(1, clientID)
                try statement.run()
            }

        case .markSessionDisconnected(let clientID, let at):
            try markDisconnected.bind(1, at)
            try markDisconnected.bind(2, clientID)
            try markDisconnected.run()

        case .markSessionConnected(let clientID):
            try markConnected.bind(1, clientID)
            try markConnected.run()

        case .upsertSubscription(let clientID, let filter, let options, let identifier):
            try upsertSubscription.bind(1, clientID)
            try upsertSubscription.bind(2, filter)
            try upsertSubscription.bind(3, StoredColumns.encode(options))
            try upsertSubscription.bind(4, identifier.map { Int64($0) })
            try upsertSubscription.run()

        case .deleteSubscription(let clientID, let filter):
            try deleteSubscription.bind(1, clientID)
            try deleteSubscription.bind(2, filter)
            try deleteSubscription.run()

        case .appendMessage(let clientID, let messageID, let message):
            try appendMessage.bind(1, clientID)
            try appendMessage.bind(2, Int64(bitPattern: messageID))
            try Self.bindMessage(appendMessage, 3, from: message) { try appendMessage.run() }

        case .updateMessageState(let clientID, let messageID, let packetID, let released):
            try updateMessageState.bind(1, Int64(packetID))
            try updateMessageState.bind(2, released ? 1 : 0)
            try updateMessageState.bind(3, clientID)
            try updateMessageState.bind(4, Int64(bitPattern: messageID))
            try updateMessageState.run()

        case .deleteMessage(let clientID, let messageID):
            try deleteMessage.bind(1, clientID)
            try deleteMessage.bind(2, Int64(bitPattern: messageID))
            try deleteMessage.run()

        case .insertInboundQoS2(let clientID, let packetID):
            try insertInboundQoS2.bind(1, clientID)
            try insertInboundQoS2.bind(2, Int64(packetID))
            try insertInboundQoS2.run()

        case .deleteInboundQoS2(let clientID, let packetID):
            try deleteInboundQoS2.bind(1, clientID)
            try deleteInboundQoS2.bind(2, Int64(packetID))
            try deleteInboundQoS2.run()

        case .putRetained(let topic, nil, nil):
            try deleteRetained.bind(1, topic)
            try deleteRetained.run()

        case .putRetained(let topic, let message, let version):
            // A clear with a version is a row with an empty payload (a retained message never has one).
            let row = message ?? StoredMessage(topic: topic, payload: ByteBuffer(), qos: .atMostOnce, retain: true)
            try putRetained.bind(1, topic)
            try putRetained.bind(9, version?.time)
            try putRetained.bind(10, version?.node)
            try Self.bindMessage(putRetained, 2, from: row) { try putRetained.run() }

        case .forgetRetainedClears(let time):
            try forgetRetainedClears.bind(1, time)
            try forgetRetainedClears.run()

        case .putWill(let clientID, let message, let dueAt):
            try putWill.bind(1, clientID)
            try putWill.bind(9, dueAt)
            try Self.bindMessage(putWill, 2, from: message) { try putWill.run() }

        case .deleteWill(let clientID):
            try deleteWill.bind(1, clientID)
            try deleteWill.run()

        case .putBridgeState(let bridge, let key, let value?):
            try putBridgeState.bind(1, bridge)
            try putBridgeState.bind(2, key)
            try putBridgeState.bind(3, value)
            try putBridgeState.run()

        case .putBridgeState(let bridge, let key, nil):
            try deleteBridgeState.bind(1, bridge)
            try deleteBridgeState.bind(2, key)
            try deleteBridgeState.run()
        }
    }

    /// Binds the seven ``messageColumns`` from parameter `first` on, then runs `step` while the
    /// payload is bound without a copy.
    private static func bindMessage(
        _ statement: SQLiteStatement, _ first: Int32, from message: StoredMessage, _ step: () throws -> Void
    ) throws {
        try statement.bind(first, message.topic)
        try statement.bind(first + 2, Int64(message.qos.rawValue))
        try statement.bind(first + 3, message.retain ? 1 : 0)
        try statement.bind(first + 4, blob: StoredColumns.encode(message.properties))
        try statement.bind(first + 5, message.expiresAt)
        try statement.bind(first + 6, blob: StoredColumns.encode(subscriptionIdentifiers: message.subscriptionIdentifiers))
        try statement.withBound(first + 1, message.payload, step)
    }
}
