import MeridianMQTT
import MeridianStore
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Group commit")
struct GroupCommitTests {
    /// Runs `body(caller)` on `count` threads at once and waits for all of them.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let start = Locked(false)
        var threads: [pthread_t] = []
        final class Box { let run: () -> Void; init(_ run: @escaping () -> Void) { self.run = run } }
        for caller in 0..<count {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(Box {
                while !start.withLock({ $0 }) { sched_yield() }
                body(caller)
            })
            pthread_create(&thread, nil, { Unmanaged<Box>.fromOpaque($0!).takeRetainedValue().run(); return nil }, box.toOpaque())
            threads.append(thread)
        }
        start.withLock { $0 = true }
        for thread in threads { pthread_join(thread, nil) }
    }

    @Test func concurrentCommitsShareTransactionsAndCompleteInOrder() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir)
        let callers = 4
        let perCaller = 2_500
        let group = MultiThreadedEventLoopGroup(numberOfThreads: callers)
        // Each caller's futures complete on its own loop; the completion order is recorded there.
        let completions = (0..<callers).map { _ in Locked<[Int]>([]) }
        let futures = Locked<[EventLoopFuture<Void>]>([])
        try await store.commitAndWait((0..<callers).map { .upsertSession(session("c\($0)")) })
        let commitsBefore = store.statistics.commits

        Self.onThreads(callers) { caller in
            let loop = group.any()
            var mine: [EventLoopFuture<Void>] = []
            for i in 0..<perCaller {
                let id = UInt64(caller * perCaller + i + 1)
                let future = store.commit([.appendMessage(clientID: "c\(caller)", messageID: id, message("t/\(caller)", "\(i)"))], on: loop)
                future.whenSuccess { completions[caller].withLock { $0.append(i) } }
                mine.append(future)
            }
            futures.withLock { $0 += mine }
        }
        for future in futures.withLock({ $0 }) { try await future.get() }

        for caller in 0..<callers {
            #expect(completions[caller].withLock { $0 } == Array(0..<perCaller), "caller \(caller)")
        }
        let calls = callers * perCaller
        let commits = store.statistics.commits - commitsBefore
        print("group commit: \(calls) commit calls from \(callers) threads in \(commits) SQLite commits")
        #expect(commits < calls / 10)
        #expect(store.statistics.operationsCommitted == calls + callers)
        #expect(store.statistics.failedCommits == 0)
        store.close()
        try await group.shutdownGracefully()

        let state = try recover(dir)
        for caller in 0..<callers {
            let ids = state.session("c\(caller)")?.messages.map(\.messageID) ?? []
            #expect(ids == (1...perCaller).map { UInt64(caller * perCaller + $0) })
        }
        #expect(state.lastMessageID == UInt64(calls))
    }

    @Test func aBatchHoldsAtMostMaxBatchOperations() async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try SQLiteStore.open(
            options: .init(directory: dir.path, maxBatchOperations: 10, maxBatchDelay: .seconds(120)), now: testNow, log: { _ in })
        // Ten operations fill a batch: it is committed without waiting for the delay. (The delay is
        // long so that a test loop slowed down by other tests cannot let it pass and flush the rest.)
        var futures: [EventLoopFuture<Void>] = []
        for i in 0..<25 {
            futures.append(store.commit([.insertInboundQoS2(clientID: "x", packetID: UInt16(i))], on: testLoop))
        }
        for future in futures.prefix(20) { try await future.get() }
        #expect(store.statistics.commits == 2)
        #expect(store.statistics.operationsCommitted == 20)
        // A single call larger than the limit is not split; it fills the batch, so the five
        // waiting operations go first, then the thirty.
        try await store.commitAndWait((100..<130).map { .insertInboundQoS2(clientID: "x", packetID: UInt16($0)) })
        for future in futures { try await future.get() }
        #expect(store.statistics.commits == 4)
        #expect(store.statistics.operationsCommitted == 55)
        store.close()
    }
}
