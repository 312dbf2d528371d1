/// The database schema and its migrations. The version is `PRAGMA user_version`.
///
/// A migration is appended, never edited: version N is the result of running migrations
/// 1...N in order, each in its own transaction together with the version bump. A file whose
/// version is above ``Schema/currentVersion`` was written by a newer build and is refused.
enum Schema {
    static let migrations: [String] = [
        // v1: the initial schema.
        """
        CREATE TABLE sessions (
            client_id TEXT NOT NULL PRIMARY KEY,
            expiry INTEGER NOT NULL,            -- Session Expiry Interval, seconds; 4294967295 = never
            protocol_version INTEGER NOT NULL,  -- 3, 4 or 5
            disconnected_at INTEGER             -- unix seconds; NULL while connected
        ) WITHOUT ROWID;
        CREATE TABLE subscriptions (
            client_id TEXT NOT NULL,
            filter TEXT NOT NULL,
            options INTEGER NOT NULL,           -- the SUBSCRIBE options byte
            identifier INTEGER,                 -- Subscription Identifier, NULL if none
            PRIMARY KEY (client_id, filter)
        ) WITHOUT ROWID;
        CREATE TABLE messages (
            client_id TEXT NOT NULL,
            message_id INTEGER NOT NULL,        -- orders a session's queue
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            qos INTEGER NOT NULL,
            retain INTEGER NOT NULL,
            properties BLOB,                    -- see StoredColumns; NULL = none
            expires_at INTEGER,                 -- unix seconds; NULL = never
            subscription_ids BLOB,              -- 4-byte big-endian integers; NULL = none
            packet_id INTEGER,                  -- QoS 2 sent with this packet identifier
            released INTEGER NOT NULL DEFAULT 0, -- QoS 2 PUBREC received
            PRIMARY KEY (client_id, message_id)
        );
        CREATE TABLE inbound_qos2 (
            client_id TEXT NOT NULL,
            packet_id INTEGER NOT NULL,
            PRIMARY KEY (client_id, packet_id)
        ) WITHOUT ROWID;
        CREATE TABLE retained (
            topic TEXT NOT NULL PRIMARY KEY,
            payload BLOB NOT NULL,
            qos INTEGER NOT NULL,
            retain INTEGER NOT NULL,
            properties BLOB,
            expires_at INTEGER,
            subscription_ids BLOB
        );
        CREATE TABLE wills (
            client_id TEXT NOT NULL PRIMARY KEY,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            qos INTEGER NOT NULL,
            retain INTEGER NOT NULL,
            properties BLOB,
            expires_at INTEGER,
            subscription_ids BLOB,
            due_at INTEGER NOT NULL             -- unix seconds when the will is published
        );
        """,
        // v2: who a session's client was, so the ACL applies to it after a restart before it reconnects.
        """
        ALTER TABLE sessions ADD COLUMN identity INTEGER; -- NULL unknown (v1 rows), 1 client, 2 the broker's own
        ALTER TABLE sessions ADD COLUMN username TEXT;    -- the client's username; NULL without one
        """,
        // v3: the broker's stable identity, and a count of its starts (``StoredNodeIdentity``).
        """
        CREATE TABLE node (
            id TEXT NOT NULL,                   -- chosen at random when the store is created; never changes
            incarnation INTEGER NOT NULL        -- incremented at every start
        );
        """,
        // v4: what a bridge link keeps across restarts (``StoreOperation/putBridgeState(bridge:key:value:)``).
        """
        CREATE TABLE bridge_state (
            bridge TEXT NOT NULL,               -- the connection block's name
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (bridge, key)
        ) WITHOUT ROWID;
        """,
        // v5: the version of each retained value, for a cluster's nodes to agree (``StoredRetained``);
        // a row with an empty payload and a version is a kept clear.
        """
        ALTER TABLE retained ADD COLUMN version_time INTEGER; -- unix nanoseconds on the node that set it; NULL none
        ALTER TABLE retained ADD COLUMN version_node TEXT;    -- that node's name
        """,
    ]

    static var currentVersion: Int { migrations.count }

    static func version(of database: SQLiteDatabase) throws -> Int {
        Int(try database.textValue("PRAGMA user_version") ?? "0") ?? 0
    }

    /// Brings the schema to ``currentVersion``. The caller has checked that the file is not newer.
    static func migrate(_ database: SQLiteDatabase, from version: Int) throws {
        guard version < currentVersion else { return }
        for next in (version + 1)...currentVersion {
            try database.execute("BEGIN IMMEDIATE")
            do {
                try database.execute(migrations[next - 1])
                try database.execute("PRAGMA user_version = \(next)")
                try database.execute("COMMIT")
            } catch {
                if database.isInTransaction { try? database.execute("ROLLBACK") }
                throw error
            }
        }
    }
}
