import MeridianMQTT
import MeridianStore
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Writes `bytes` at `offset` of `path` (creating it), optionally truncating the file there first.
func overwrite(_ path: String, at offset: Int = 0, _ bytes: [UInt8], truncate: Bool = false) {
    let fd = open(path, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0), 0o644)
    precondition(fd >= 0)
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
    precondition(written == bytes.count)
}

func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : -1
}

@Suite("Damaged or foreign database files")
struct DamagedFileTests {
    /// Asserts that the store opened empty, set the bad file aside and logged it, and works.
    func expectSetAsideAndFresh(_ dir: TemporaryDirectory, log: LogLines, state: RecoveredState, store: SQLiteStore) async throws {
        #expect(state.sessions.isEmpty && state.retained.isEmpty && state.wills.isEmpty && state.lastMessageID == 0)
        let aside = "meridian.db.corrupt-\(testNow)"
        #expect(dir.entries().contains(aside), "entries: \(dir.entries())")
        #expect(log.contains("not a usable database"), "log: \(log.all)")
        #expect(log.contains(aside))
        try await store.commitAndWait([.upsertSession(session("new"))])
        store.close()
        #expect(try recover(dir).sessions.map(\.session.clientID) == ["new"])
    }

    @Test func garbageFileIsSetAside() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var generator = SystemRandomNumberGenerator()
        let garbage = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        overwrite(dir.databasePath, garbage)
        overwrite(dir.databasePath + "-wal", Array(garbage.prefix(5000)))
        let log = LogLines()
        let (store, state) = try openStore(dir, log: log)
        #expect(fileSize(dir.file("meridian.db.corrupt-\(testNow)")) == garbage.count)
        #expect(fileSize(dir.file("meridian.db.corrupt-\(testNow)-wal")) == 5000)
        try await expectSetAsideAndFresh(dir, log: log, state: state, store: store)
    }

    @Test func textFileIsSetAside() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        overwrite(dir.databasePath, Array("this is not a database\n".utf8))
        let log = LogLines()
        let (store, state) = try openStore(dir, log: log)
        try await expectSetAsideAndFresh(dir, log: log, state: state, store: store)
    }

    @Test func truncatedDatabaseIsSetAside() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        let payload = String(repeating: "x", count: 1000)
        try await store.commitAndWait([.upsertSession(session("s"))])
        try await store.commitAndWait(
            (1...2000).map { .appendMessage(clientID: "s", messageID: UInt64($0), message("t/\($0)", payload)) })
        store.close()
        #expect(!dir.entries().contains("meridian.db-wal"))
        let size = fileSize(dir.databasePath)
        #expect(size > 1_000_000)
        // Cut it at a page boundary in the middle: a valid header whose tree points past the end.
        let fd = open(dir.databasePath, O_WRONLY)
        #expect(ftruncate(fd, off_t(size / 2 / 4096 * 4096)) == 0)
        close(fd)

        let log = LogLines()
        let (reopened, state) = try openStore(dir, log: log)
        #expect(fileSize(dir.file("meridian.db.corrupt-\(testNow)")) == size / 2 / 4096 * 4096)
        try await expectSetAsideAndFresh(dir, log: log, state: state, store: reopened)
    }

    @Test func newerSchemaIsRefusedAndKept() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        try await store.commitAndWait([.upsertSession(session("s"))])
        store.close()
        // PRAGMA user_version is the big-endian integer at offset 60 of the header.
        overwrite(dir.databasePath, at: 60, [0, 0, 0x03, 0xE7])
        #expect {
            _ = try openStore(dir)
        } throws: { ($0 as? StoreError)?.code == .newerSchema }
        #expect(dir.entries() == ["meridian.db"])
    }

    @Test func anotherOpenStoreOnTheSameDirectoryIsRefused() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        try await store.commitAndWait([.upsertSession(session("s"))])
        let log = LogLines()
        #expect {
            _ = try openStore(dir, log: log)
        } throws: { ($0 as? StoreError)?.code == .io }
        #expect(!dir.entries().contains { $0.contains("corrupt") })
        store.close()
        #expect(try recover(dir).sessions.count == 1)
    }
}
