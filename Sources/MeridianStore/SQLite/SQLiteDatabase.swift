import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `SQLITE_TRANSIENT`, which the C macro defines as `(sqlite3_destructor_type)-1`: SQLite copies the value.
let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
/// `SQLITE_STATIC`: the caller keeps the value alive until the statement is reset or rebound.
let SQLITE_STATIC: sqlite3_destructor_type? = nil

/// A failed SQLite call: the result code (extended), the OS error number and SQLite's message.
struct SQLiteError: Error, CustomStringConvertible {
    var code: Int32
    var systemErrno: Int32
    var message: String
    var context: String

    var primaryCode: Int32 { code & 0xFF }

    var description: String {
        var text = "\(context): \(message) (SQLite code \(code)"
        if systemErrno != 0 { text += ", errno \(systemErrno)" }
        return text + ")"
    }

    /// Whether the file is not a database or is damaged, so it should be moved aside.
    var isCorruption: Bool { primaryCode == SQLITE_CORRUPT || primaryCode == SQLITE_NOTADB }

    /// The store's view of this error: disk or file-size limits are `.full`, other I/O `.io`.
    var storeError: StoreError {
        switch primaryCode {
        case SQLITE_FULL:
            return StoreError(.full, description)
        case SQLITE_IOERR:
            switch systemErrno {
            case ENOSPC, EDQUOT, EFBIG: return StoreError(.full, description)
            default: return StoreError(.io, description)
            }
        case SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED:
            return StoreError(.io, description)
        default:
            return StoreError(.other, description)
        }
    }
}

/// One connection, used from one thread only (opened with `SQLITE_OPEN_NOMUTEX`).
final class SQLiteDatabase {
    private(set) var handle: OpaquePointer?
    let path: String

    init(path: String) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, systemErrno: 0, message: message, context: "opening \(path)")
        }
        sqlite3_extended_result_codes(db, 1)
        self.handle = db
    }

    deinit { close() }

    /// Closes the connection; statements must have been finalized (`sqlite3_close_v2` defers otherwise).
    func close() {
        guard let handle else { return }
        sqlite3_close_v2(handle)
        self.handle = nil
    }

    func error(_ code: Int32, _ context: @autoclosure () -> String) -> SQLiteError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        let errno = handle.map { sqlite3_system_errno($0) } ?? 0
        return SQLiteError(code: code, systemErrno: errno, message: message, context: context())
    }

    /// Runs SQL without results (several statements allowed).
    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql) }
    }

    func prepare(_ sql: String, persistent: Bool = false) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let rc = sqlite3_prepare_v3(handle, sql, -1, flags, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, "preparing \(sql)") }
        return SQLiteStatement(statement, database: self, sql: sql)
    }

    /// The rows of a query whose columns are all read as text (PRAGMAs, checks).
    func textRows(_ sql: String) throws -> [[String?]] {
        let statement = try prepare(sql)
        defer { statement.finalize() }
        var rows: [[String?]] = []
        while try statement.step() {
            rows.append((0..<statement.columnCount).map { statement.text($0) })
        }
        return rows
    }

    /// The first column of the first row of a query, as text.
    func textValue(_ sql: String) throws -> String? {
        try textRows(sql).first?.first ?? nil
    }

    /// Whether closing checkpoints the WAL into the file and deletes it (SQLite's default), or
    /// leaves both untouched.
    func setCheckpointOnClose(_ on: Bool) throws {
        let rc = meridian_sqlite3_set_no_checkpoint_on_close(handle, on ? 0 : 1)
        guard rc == SQLITE_OK else { throw error(rc, "SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE") }
    }

    /// How long a call waits for another process's lock before failing with SQLITE_BUSY.
    func setBusyTimeout(milliseconds: Int32) {
        sqlite3_busy_timeout(handle, milliseconds)
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes(handle)) }

    var isInTransaction: Bool { handle.map { sqlite3_get_autocommit($0) == 0 } ?? false }
}
