import CSQLite
import NIOCore

/// A prepared statement, prepared once and reused: `run` steps it to completion, resets it and
/// clears its bindings. Parameters are 1-based, columns 0-based, as in the C API.
final class SQLiteStatement {
    private var handle: OpaquePointer?
    private unowned let database: SQLiteDatabase
    let sql: String

    init(_ handle: OpaquePointer, database: SQLiteDatabase, sql: String) {
        self.handle = handle
        self.database = database
        self.sql = sql
    }

    deinit { finalize() }

    func finalize() {
        guard let handle else { return }
        sqlite3_finalize(handle)
        self.handle = nil
    }

    // MARK: Binding

    private func check(_ rc: Int32, _ index: Int32) throws {
        guard rc == SQLITE_OK else { throw database.error(rc, "binding parameter \(index) of \(sql)") }
    }

    func bind(_ index: Int32, _ value: Int64) throws {
        try check(sqlite3_bind_int64(handle, index, value), index)
    }

    func bind(_ index: Int32, _ value: Int64?) throws {
        if let value { try bind(index, value) } else { try bindNull(index) }
    }

    func bind(_ index: Int32, _ value: String) throws {
        // SQLite copies the bytes (SQLITE_TRANSIENT): the C string only lives during the call.
        try check(sqlite3_bind_text(handle, index, value, Int32(value.utf8.count), SQLITE_TRANSIENT), index)
    }

    func bind(_ index: Int32, _ value: String?) throws {
        if let value { try bind(index, value) } else { try bindNull(index) }
    }

    func bindNull(_ index: Int32) throws {
        try check(sqlite3_bind_null(handle, index), index)
    }

    /// Binds bytes that SQLite copies.
    func bind(_ index: Int32, bytes: UnsafeRawBufferPointer) throws {
        if bytes.isEmpty {
            // A NULL pointer would bind NULL; an empty blob is what was meant.
            try check(sqlite3_bind_zeroblob(handle, index, 0), index)
        } else {
            try check(sqlite3_bind_blob(handle, index, bytes.baseAddress, Int32(bytes.count), SQLITE_TRANSIENT), index)
        }
    }

    /// Binds `bytes` without copying (`SQLITE_STATIC`): valid only until `body` returns, so the
    /// statement must be stepped inside `body`. The binding is cleared afterwards.
    func withBound<Result>(
        _ index: Int32, _ buffer: ByteBuffer, _ body: () throws -> Result
    ) throws -> Result {
        if buffer.readableBytes == 0 {
            try check(sqlite3_bind_zeroblob(handle, index, 0), index)
            return try body()
        }
        return try buffer.withUnsafeReadableBytes { bytes in
            try check(sqlite3_bind_blob(handle, index, bytes.baseAddress, Int32(bytes.count), SQLITE_STATIC), index)
            defer { sqlite3_bind_null(handle, index) }
            return try body()
        }
    }

    func bind(_ index: Int32, blob: [UInt8]?) throws {
        guard let blob else { return try bindNull(index) }
        try blob.withUnsafeBytes { try bind(index, bytes: $0) }
    }

    // MARK: Stepping

    /// Steps once: true when a row is available, false when done.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.error(rc, sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Steps to completion, then resets and clears bindings for the next use.
    func run() throws {
        defer { reset() }
        while try step() {}
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    // MARK: Columns

    var columnCount: Int32 { sqlite3_column_count(handle) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// The column's bytes (NULL and empty blobs alike give an empty buffer).
    func withBlob<Result>(_ column: Int32, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let pointer = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        return try body(UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : count))
    }

    func byteBuffer(_ column: Int32, allocator: ByteBufferAllocator) -> ByteBuffer {
        withBlob(column) { allocator.buffer(bytes: $0) }
    }
}
