import NIOConcurrencyHelpers
import NIOCore

/// The broker's durable state in one SQLite database (`<directory>/meridian.db`, WAL mode).
///
/// Every SQLite call runs on one writer thread of the store's own; callers hand operations
/// over through a queue and never block on the disk. The writer commits in groups: when work
/// arrives it waits up to ``Options/maxBatchDelay`` for more (at most
/// ``Options/maxBatchOperations`` operations), then runs one transaction for everything it
/// gathered and completes the futures of that batch in submission order. Work that arrives
/// during a commit goes into the next one, so under load there is one commit (and with
/// ``StoreSync/full`` one fsync) per batch, not per message.
///
/// A failed commit (disk full, I/O error) is rolled back whole and fails the futures of its
/// batch; later batches are tried as usual, so the store recovers when space returns.
/// Everything committed before stays.
public final class SQLiteStore: @unchecked Sendable {
    /// Called on the writer thread after each commit (one per batch, not per message) with how
    /// long the transaction took and whether it succeeded; for a latency histogram.
    public typealias CommitObserver = @Sendable (Duration, Bool) -> Void

    public struct Options: Sendable {
        /// The data directory (`persistence_location`); the file is `<directory>/meridian.db`.
        public var directory: String
        public var sync: StoreSync
        /// A commit holds at most this many operations (a single larger `commit` call is not split).
        public var maxBatchOperations: Int
        /// How long the writer waits to gather more work after the first operation arrives;
        /// 0 commits as soon as the previous commit is done.
        public var maxBatchDelay: TimeAmount
        public var observeCommit: CommitObserver?

        public init(
            directory: String, sync: StoreSync = .normal, maxBatchOperations: Int = 10_000,
            maxBatchDelay: TimeAmount = .milliseconds(1), observeCommit: CommitObserver? = nil
        ) {
            self.observeCommit = observeCommit
            self.directory = directory
            self.sync = sync
            self.maxBatchOperations = maxBatchOperations
            self.maxBatchDelay = maxBatchDelay
        }
    }

    private let queue: WriteQueue
    private let thread: WriterThread
    private let log: @Sendable (String) -> Void
    private let closed = NIOLockedValueBox(false)

    private init(queue: WriteQueue, thread: WriterThread, log: @escaping @Sendable (String) -> Void) {
        self.queue = queue
        self.thread = thread
        self.log = log
    }

    deinit { close() }

    /// Opens or creates the database and recovers its content.
    ///
    /// Runs `PRAGMA quick_check`; a garbage or damaged file is renamed
    /// `meridian.db.corrupt-<now>` (with its `-wal`/`-shm`), reported through `log`, and an
    /// empty store is started instead. Applies schema migrations. Deletes what expired while the
    /// broker was down (see ``RecoveredState``): sessions whose `disconnectedAt + expiryInterval <= now`,
    /// and queued and retained messages whose `expiresAt <= now`.
    ///
    /// Blocks the caller until the writer thread has opened and read the file: call it at start-up,
    /// not on an event loop.
    ///
    /// - Parameters:
    ///   - now: the current time in seconds since the Unix epoch.
    ///   - log: receives the store's rare notices (a file set aside, expiry at start, failing
    ///     commits); called on the writer thread.
    /// - Throws: ``StoreError`` with `.newerSchema` for a file written by a newer build, `.io`
    ///   when the file cannot be opened or is locked by another process, `.full` when a new file
    ///   cannot be written.
    public static func open(
        options: Options, now: Int64, log: @escaping @Sendable (String) -> Void
    ) throws -> (SQLiteStore, RecoveredState) {
        let queue = WriteQueue(maxBatchOperations: options.maxBatchOperations, maxBatchDelay: options.maxBatchDelay)
        let opened = ConditionLock(value: false)
        let result = NIOLockedValueBox<Result<RecoveredState, Error>?>(nil)
        let thread = WriterThread {
            var writer: StoreWriter?
            do {
                let (db, state) = try DatabaseFile.open(
                    directory: options.directory, sync: options.sync, now: now, log: log)
                writer = try StoreWriter(database: db, log: log, observeCommit: options.observeCommit)
                result.withLockedValue { $0 = .success(state) }
            } catch let error as StoreError {
                result.withLockedValue { $0 = .failure(error) }
            } catch let error as SQLiteError {
                result.withLockedValue { $0 = .failure(error.storeError) }
            } catch {
                result.withLockedValue { $0 = .failure(StoreError(.other, "\(error)")) }
            }
            opened.lock()
            opened.unlock(withValue: true)
            writer?.run(queue)
        }
        opened.lock(whenValue: true)
        opened.unlock()
        switch result.withLockedValue({ $0 })! {
        case .success(let state):
            return (SQLiteStore(queue: queue, thread: thread, log: log), state)
        case .failure(let error):
            queue.close()
            thread.join()
            throw error
        }
    }

    /// Queues `operations`; the future succeeds on `eventLoop` once they are committed (with
    /// ``StoreSync/full``, once they are on disk), or fails with ``StoreError``: `.full` (disk,
    /// quota or file-size limit), `.io`, or `.closed` after ``close()``.
    public func commit(_ operations: [StoreOperation], on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        if !queue.submit(PendingWrite(operations: operations, promise: promise)) {
            promise.fail(StoreError(.closed, "the store is closed"))
        }
        return promise.futureResult
    }

    /// Queues `operations` without waiting; they are committed in order with the others. A failure
    /// is only logged.
    public func enqueue(_ operations: [StoreOperation]) {
        if !queue.submit(PendingWrite(operations: operations, promise: nil)) {
            log("store: \(operations.count) operations enqueued after close were dropped")
        }
    }

    /// Commits what is queued, stops the writer thread and closes the database. Idempotent; blocks
    /// until the queue is drained. Call it before shutting down the event loops that futures were
    /// requested on: the last futures are completed on them.
    public func close() {
        let first = closed.withLockedValue { wasClosed in
            defer { wasClosed = true }
            return !wasClosed
        }
        guard first else { return }
        queue.close()
        thread.join()
    }

    /// Seconds since the latest failed commit, or nil if none failed since open.
    public var secondsSinceLastFailedCommit: Double? {
        guard let failed = queue.statistics.lastFailureNanoseconds else { return nil }
        return Double(WriteQueue.monotonicNanoseconds() &- failed) / 1e9
    }

    /// Whether the store is open: ``close()`` was not called.
    public var isOpen: Bool { !closed.withLockedValue { $0 } }

    /// Commits, operations committed and failed commits since open.
    public var statistics: StoreStatistics { queue.statistics }
}
