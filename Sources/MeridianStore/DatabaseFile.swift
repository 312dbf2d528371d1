#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening the database file: health check, setting aside a damaged file, connection settings,
/// migrations and recovery. Runs on the writer thread.
enum DatabaseFile {
    static let fileName = "meridian.db"

    /// A file that SQLite cannot use: garbage, truncated or otherwise damaged.
    struct Unusable: Error {
        var reason: String
    }

    /// Opens (or creates) `<directory>/meridian.db` and recovers its content. A damaged file is
    /// renamed `meridian.db.corrupt-<now>` (with its `-wal`/`-shm`) and an empty store is started.
    static func open(
        directory: String, sync: StoreSync, now: Int64, log: @Sendable (String) -> Void
    ) throws -> (SQLiteDatabase, RecoveredState) {
        try makeDirectory(directory)
        let path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
        do {
            return try openAndRecover(path: path, sync: sync, now: now, log: log)
        } catch let error as Unusable {
            let aside = try setAside(path, now: now)
            log("store: \(path) is not a usable database (\(error.reason)); moved it to \(aside) and started an empty store")
            return try openAndRecover(path: path, sync: sync, now: now, log: log)
        }
    }

    private static func openAndRecover(
        path: String, sync: StoreSync, now: Int64, log: @Sendable (String) -> Void
    ) throws -> (SQLiteDatabase, RecoveredState) {
        do {
            let db = try SQLiteDatabase(path: path)
            // Until the file is known to be good, closing must not write a WAL into it or delete
            // the WAL: a file set aside stays as it was found.
            try db.setCheckpointOnClose(false)
            try check(db)
            let version = try Schema.version(of: db)
            guard version <= Schema.currentVersion else {
                try? db.setCheckpointOnClose(true)  // a sound file: leave it as SQLite closes it normally
                throw StoreError(
                    .newerSchema,
                    "\(path) has schema version \(version); this build knows up to \(Schema.currentVersion)")
            }
            try configure(db, sync: sync)
            try Schema.migrate(db, from: version)
            let lastMessageID = try Recovery.lastMessageID(db)
            try Recovery.expire(db, now: now, log: log)
            var state = try Recovery.load(db, log: log)
            state.lastMessageID = lastMessageID
            state.node = Recovery.nextNodeIdentity(db, log: log)
            try db.setCheckpointOnClose(true)
            return (db, state)
        } catch let error as SQLiteError where error.isCorruption {
            throw Unusable(reason: error.description)
        } catch let error as SQLiteError {
            throw error.storeError
        }
    }

    /// Takes the lock and runs `PRAGMA quick_check`.
    private static func check(_ db: SQLiteDatabase) throws {
        // One process owns the file: the lock is held from the first access until close, so a
        // second broker on the same directory fails here. In WAL mode it also keeps the WAL index
        // in memory instead of a memory-mapped -shm file the kernel would keep writing to flash.
        db.setBusyTimeout(milliseconds: 2_000)
        let mode = try db.textValue("PRAGMA locking_mode = EXCLUSIVE")
        guard mode == "exclusive" else { throw StoreError(.io, "PRAGMA locking_mode = EXCLUSIVE gave \(mode ?? "nothing")") }
        let rows = try db.textRows("PRAGMA quick_check")
        let results = rows.map { $0.first.flatMap { $0 } ?? "" }
        guard results == ["ok"] else {
            throw Unusable(reason: "quick_check: " + results.prefix(3).joined(separator: "; "))
        }
    }

    /// Connection settings; each one is read back, none is assumed.
    private static func configure(_ db: SQLiteDatabase, sync: StoreSync) throws {
        // 4 KiB pages match flash pages and the kernel's page cache; only effective on a new file.
        try db.execute("PRAGMA page_size = 4096")
        try expect(db, "PRAGMA journal_mode = WAL", "wal")
        let level = sync == .full ? "FULL" : "NORMAL"
        try db.execute("PRAGMA synchronous = \(level)")
        try expect(db, "PRAGMA synchronous", sync == .full ? "2" : "1")
        // Checkpoint every ~4 MiB of WAL (SQLite's default, stated), and truncate a WAL that grew
        // past 32 MiB in a burst back to that size afterwards.
        try expect(db, "PRAGMA wal_autocheckpoint = 1000", "1000")
        try expect(db, "PRAGMA journal_size_limit = 33554432", "33554432")
    }

    private static func expect(_ db: SQLiteDatabase, _ sql: String, _ wanted: String?) throws {
        let value = try db.textValue(sql)
        guard value == wanted else {
            throw StoreError(.other, "\(sql) gave \(value ?? "nothing"), expected \(wanted ?? "nothing")")
        }
    }

    private static func makeDirectory(_ directory: String) throws {
        if mkdir(directory, 0o750) != 0 && errno != EEXIST {
            throw StoreError(.io, "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Renames the file and its WAL/shm to `<path>.corrupt-<now>[-n]`; returns the new name.
    private static func setAside(_ path: String, now: Int64) throws -> String {
        var aside = "\(path).corrupt-\(now)"
        var attempt = 0
        while access(aside, F_OK) == 0 {
            attempt += 1
            aside = "\(path).corrupt-\(now)-\(attempt)"
        }
        for suffix in ["", "-wal", "-shm"] where access(path + suffix, F_OK) == 0 {
            guard rename(path + suffix, aside + suffix) == 0 else {
                throw StoreError(.io, "cannot move \(path + suffix) aside: \(String(cString: strerror(errno)))")
            }
        }
        return aside
    }
}
