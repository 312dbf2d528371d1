import MeridianMQTT
import NIOCore

/// Start-up work on an open, migrated database: drop what expired while the broker was down,
/// then read everything into a ``RecoveredState``.
enum Recovery {
    /// Sessions that were connected when the broker stopped lost their connection then: they are
    /// marked disconnected at `now` (when the stop is first noticed), so that their expiry runs
    /// from there and a session with expiry 0 ends. Sessions whose expiry passed are deleted
    /// with their subscriptions, messages and QoS 2 ids, but not their wills: a will is due no
    /// later than its session's end, and the broker publishes overdue wills at start. Messages
    /// and retained messages whose `expires_at` passed are deleted, except QoS 2 messages already
    /// sent (their flow must complete). Rows of sessions that do not exist are deleted.
    static func expire(_ db: SQLiteDatabase, now: Int64, log: (String) -> Void) throws {
        let expiredSession = "disconnected_at IS NOT NULL AND expiry != 4294967295 AND disconnected_at + expiry <= ?1"
        let orphan = "client_id NOT IN (SELECT client_id FROM sessions)"
        let steps: [(sql: String, what: String)] = [
            ("UPDATE sessions SET disconnected_at = ?1 WHERE disconnected_at IS NULL", ""),
            ("DELETE FROM sessions WHERE \(expiredSession)", "expired sessions"),
            ("DELETE FROM subscriptions WHERE \(orphan)", ""),
            ("DELETE FROM messages WHERE \(orphan)", "queued messages of sessions that no longer exist"),
            ("DELETE FROM inbound_qos2 WHERE \(orphan)", ""),
            ("DELETE FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?1 AND packet_id IS NULL", "expired queued messages"),
            // An expired retained message with a version stays as a clear (the value it replaced must not come back).
            (
                "UPDATE retained SET payload = X'', properties = NULL, expires_at = NULL, subscription_ids = NULL "
                    + "WHERE expires_at IS NOT NULL AND expires_at <= ?1 AND version_time IS NOT NULL",
                "expired retained messages (their versions kept)"
            ),
            ("DELETE FROM retained WHERE expires_at IS NOT NULL AND expires_at <= ?1", "expired retained messages"),
        ]
        try db.execute("BEGIN IMMEDIATE")
        do {
            for step in steps {
                let statement = try db.prepare(step.sql)
                defer { statement.finalize() }
                if step.sql.contains("?1") { try statement.bind(1, now) }
                try statement.run()
                let changes = db.changes
                if changes > 0 && !step.what.isEmpty { log("store: removed \(changes) \(step.what) at start") }
            }
            try db.execute("COMMIT")
        } catch {
            if db.isInTransaction { try? db.execute("ROLLBACK") }
            throw error
        }
    }

    static func load(_ db: SQLiteDatabase, log: (String) -> Void) throws -> RecoveredState {
        let allocator = ByteBufferAllocator()
        var sessions: [RecoveredSession] = []
        var index: [String: Int] = [:]

        let columns = "client_id, expiry, protocol_version, disconnected_at, identity, username"
        try query(db, "SELECT \(columns) FROM sessions ORDER BY client_id") { row in
            let clientID = row.text(0) ?? ""
            let version = MQTTProtocolVersion(rawValue: UInt8(truncatingIfNeeded: row.int64(2))) ?? .v5
            var identity: StoredSessionIdentity?
            switch row.optionalInt64(4) {
            case 1: identity = .client(username: row.text(5))
            case 2: identity = .trusted
            default: identity = nil
            }
            let session = StoredSession(
                clientID: clientID, expiryInterval: UInt32(truncatingIfNeeded: row.int64(1)), protocolVersion: version,
                disconnectedAt: row.optionalInt64(3), identity: identity)
            index[clientID] = sessions.count
            sessions.append(RecoveredSession(session: session, subscriptions: [], messages: [], inboundQoS2: []))
        }

        try query(db, "SELECT client_id, filter, options, identifier FROM subscriptions ORDER BY client_id, filter") { row in
            guard let i = index[row.text(0) ?? ""] else { return }
            let options = try StoredColumns.decodeSubscriptionOptions(row.int64(2))
            let identifier = row.optionalInt64(3).map { UInt32(truncatingIfNeeded: $0) }
            sessions[i].subscriptions.append((filter: row.text(1) ?? "", options: options, identifier: identifier))
        }

        try query(
            db,
            "SELECT client_id, message_id, packet_id, released, \(OperationStatements.messageColumns) FROM messages "
                + "ORDER BY client_id, message_id"
        ) { row in
            guard let i = index[row.text(0) ?? ""] else { return }
            let messageID = UInt64(bitPattern: row.int64(1))
            let message = decodeMessage(row, from: 4, allocator: allocator, log: log, what: "message \(messageID)")
            sessions[i].messages.append(
                RecoveredMessage(
                    messageID: messageID, message: message,
                    packetID: row.optionalInt64(2).map { UInt16(truncatingIfNeeded: $0) }, released: row.int64(3) != 0))
        }

        try query(db, "SELECT client_id, packet_id FROM inbound_qos2 ORDER BY client_id, packet_id") { row in
            guard let i = index[row.text(0) ?? ""] else { return }
            sessions[i].inboundQoS2.append(UInt16(truncatingIfNeeded: row.int64(1)))
        }

        var retained: [StoredRetained] = []
        try query(db, "SELECT version_time, version_node, \(OperationStatements.messageColumns) FROM retained ORDER BY topic") { row in
            let message = decodeMessage(row, from: 2, allocator: allocator, log: log, what: "retained message")
            retained.append(StoredRetained(
                topic: message.topic, message: message.payload.readableBytes == 0 ? nil : message,
                version: row.optionalInt64(0).map { (time: $0, node: row.text(1) ?? "") }))
        }

        var wills: [(clientID: String, message: StoredMessage, dueAt: Int64)] = []
        try query(db, "SELECT client_id, due_at, \(OperationStatements.messageColumns) FROM wills ORDER BY client_id") { row in
            let message = decodeMessage(row, from: 2, allocator: allocator, log: log, what: "will")
            wills.append((clientID: row.text(0) ?? "", message: message, dueAt: row.int64(1)))
        }

        var state = RecoveredState(sessions: sessions, retained: retained, wills: wills, lastMessageID: 0)
        try query(db, "SELECT bridge, key, value FROM bridge_state ORDER BY bridge, key") { row in
            state.bridgeState[row.text(0) ?? "", default: [:]][row.text(1) ?? ""] = row.text(2) ?? ""
        }
        return state
    }

    /// The largest message id ever stored that is still in the file (0 if none).
    /// The broker's identity, kept in the store: its id (made once) and a new incarnation for this
    /// start. When the new incarnation cannot be written (a full disk), this start gets an id of
    /// its own instead, so that it never reuses an incarnation a later start would claim again.
    static func nextNodeIdentity(_ db: SQLiteDatabase, log: @Sendable (String) -> Void) -> StoredNodeIdentity {
        do {
            var current: StoredNodeIdentity?
            try query(db, "SELECT id, incarnation FROM node LIMIT 1") { row in
                if let id = row.text(0), let incarnation = row.optionalInt64(1) {
                    current = StoredNodeIdentity(id: id, incarnation: UInt64(clamping: incarnation))
                }
            }
            if let current {
                let next = StoredNodeIdentity(id: current.id, incarnation: current.incarnation + 1)
                try db.execute("UPDATE node SET incarnation = \(next.incarnation)")
                return next
            }
            // Base 36 digits only, so the literal needs no quoting beyond its delimiters.
            let next = StoredNodeIdentity(id: StoredNodeIdentity.randomID(), incarnation: 1)
            try db.execute("INSERT INTO node (id, incarnation) VALUES ('\(next.id)', 1)")
            return next
        } catch {
            let fallback = StoredNodeIdentity(id: StoredNodeIdentity.randomID(), incarnation: 1)
            log("store: cannot record this start's incarnation (\(error)); running as node \(fallback.id) until the next start")
            return fallback
        }
    }

    static func lastMessageID(_ db: SQLiteDatabase) throws -> UInt64 {
        var last: UInt64 = 0
        try query(db, "SELECT max(message_id) FROM messages") { row in
            last = row.optionalInt64(0).map { UInt64(bitPattern: $0) } ?? 0
        }
        return last
    }

    private static func query(_ db: SQLiteDatabase, _ sql: String, _ body: (SQLiteStatement) throws -> Void) throws {
        let statement = try db.prepare(sql)
        defer { statement.finalize() }
        while try statement.step() { try body(statement) }
    }

    /// Reads the ``OperationStatements/messageColumns`` from column `first` on. A damaged
    /// properties or subscription-identifier blob is logged and dropped, keeping the message.
    private static func decodeMessage(
        _ row: SQLiteStatement, from first: Int32, allocator: ByteBufferAllocator, log: (String) -> Void, what: @autoclosure () -> String
    ) -> StoredMessage {
        let topic = row.text(first) ?? ""
        let payload = row.byteBuffer(first + 1, allocator: allocator)
        let qos = MQTTQoS(rawValue: UInt8(truncatingIfNeeded: row.int64(first + 2))) ?? .atLeastOnce
        var properties: MQTTProperties = []
        do {
            properties = try row.withBlob(first + 4) { try StoredColumns.decodeProperties($0) }
        } catch {
            log("store: dropped the unreadable properties of \(what()) on \(topic): \(error)")
        }
        var identifiers: [UInt32] = []
        do {
            identifiers = try row.withBlob(first + 6) { try StoredColumns.decodeSubscriptionIdentifiers($0) }
        } catch {
            log("store: dropped the unreadable subscription identifiers of \(what()) on \(topic): \(error)")
        }
        return StoredMessage(
            topic: topic, payload: payload, qos: qos, retain: row.int64(first + 3) != 0, properties: properties,
            expiresAt: row.optionalInt64(first + 5), subscriptionIdentifiers: identifiers)
    }
}
