import MeridianMQTT
import MeridianStore
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A 1 MiB tmpfs mounted on a temporary directory: a disk that really fills up. Needs root.
struct SmallFileSystem {
    let directory: TemporaryDirectory

    init?(size: String) {
        directory = TemporaryDirectory()
        guard mount("tmpfs", directory.path, "tmpfs", 0, "size=\(size),mode=0700") == 0 else {
            directory.remove()
            return nil
        }
    }

    func unmount() {
        directory.remove()  // the files, then the (busy) mount point fails quietly
        umount(directory.path)
        rmdir(directory.path)
    }

    /// Whether this process may mount a tmpfs (root in a place that allows it).
    static let isAvailable: Bool = {
        guard let probe = SmallFileSystem(size: "64k") else { return false }
        probe.unmount()
        return true
    }()
}

@Suite("A full disk")
struct DiskFullTests {
    @Test(.enabled(if: SmallFileSystem.isAvailable, "mounting a tmpfs needs root; skipped"))
    func fullDiskFailsCommitsKeepsDataAndRecovers() async throws {
        // A file-size limit would raise SIGXFSZ; the broker ignores it and so does this test.
        signal(SIGXFSZ, SIG_IGN)
        let fs = try #require(SmallFileSystem(size: "1m"))
        defer { fs.unmount() }
        let dir = fs.directory
        let filler = dir.file("filler")
        overwrite(filler, [UInt8](repeating: 0xAB, count: 256 * 1024))

        let log = LogLines()
        var (store, _) = try openStore(dir, maxBatchDelay: .zero, log: log)
        try await store.commitAndWait([.upsertSession(session("s", expiry: .max))])
        let payload = String(repeating: "p", count: 2000)
        var committed: [UInt64] = []
        var failure: StoreError?
        var nextID: UInt64 = 1
        for _ in 0..<1000 {
            let ids = (nextID..<nextID + 10)
            nextID += 10
            do {
                try await store.commitAndWait(ids.map { .appendMessage(clientID: "s", messageID: $0, message("t", payload)) })
                committed += ids
            } catch let error as StoreError {
                failure = error
                break
            }
        }
        let error = try #require(failure, "1 MiB never filled up")
        #expect(error.code == .full, "\(error)")
        #expect(committed.count > 50)
        #expect(store.statistics.failedCommits == 1)
        #expect(log.contains("failed and was rolled back"))

        // Still full: a commit as large as the one that failed fails the same way (a smaller one
        // might fit in what is left, depending on page layout), and nothing committed is lost.
        await #expect {
            try await store.commitAndWait((0..<10).map { .appendMessage(clientID: "s", messageID: 999_990 + $0, message("t", payload)) })
        } throws: { ($0 as? StoreError)?.code == .full }
        store.close()
        (store, _) = try openStore(dir, maxBatchDelay: .zero)
        store.close()
        var state = try recover(dir)
        #expect(state.session("s")?.messages.map(\.messageID) == committed)

        // Space comes back: commits work again on the same open store.
        (store, _) = try openStore(dir, maxBatchDelay: .zero, log: log)
        await #expect(throws: StoreError.self) {
            try await store.commitAndWait((nextID..<nextID + 50).map { .appendMessage(clientID: "s", messageID: $0, message("t", payload)) })
        }
        #expect(unlink(filler) == 0)
        try await store.commitAndWait([.appendMessage(clientID: "s", messageID: nextID + 100, message("t", "after"))])
        #expect(log.contains("commits succeed again"))
        store.close()
        state = try recover(dir)
        #expect(state.session("s")?.messages.map(\.messageID) == committed + [nextID + 100])
    }
}
