import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Operations waiting for the writer, with the promise to complete once they are committed.
struct PendingWrite {
    var operations: [StoreOperation]
    var promise: EventLoopPromise<Void>?
}

/// Counters for metrics and tests.
public struct StoreStatistics: Sendable, Equatable {
    /// Transactions committed.
    public var commits: Int = 0
    /// Operations in those transactions.
    public var operationsCommitted: Int = 0
    /// Transactions that failed and were rolled back (their promises failed).
    public var failedCommits: Int = 0
    /// Whether the latest commit failed: the store is not writable until one succeeds again.
    public var lastCommitFailed = false
    /// When the latest failed commit ended (`CLOCK_MONOTONIC` nanoseconds), nil if none failed.
    /// A full disk lets small commits through while larger ones fail, so "the last commit
    /// succeeded" alone does not show that the store takes writes.
    public var lastFailureNanoseconds: UInt64?

    public init(commits: Int = 0, operationsCommitted: Int = 0, failedCommits: Int = 0, lastCommitFailed: Bool = false) {
        self.commits = commits
        self.operationsCommitted = operationsCommitted
        self.failedCommits = failedCommits
        self.lastCommitFailed = lastCommitFailed
    }
}

/// The hand-off between submitters (any thread) and the one writer thread: a FIFO of
/// ``PendingWrite``s under a mutex, and a condition variable the writer sleeps on.
///
/// The writer takes a batch when the queue holds at least `maxBatchOperations` operations,
/// when the oldest entry has waited `maxBatchDelay`, or at close. Work that arrives while a
/// batch is being committed waits for the next one, so under load every commit carries
/// everything that arrived during the previous one (group commit).
final class WriteQueue: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    // Guarded by `mutex`.
    private var pending: [PendingWrite] = []
    private var pendingOperations = 0
    private var oldestArrival: UInt64 = 0
    private var closing = false
    private var counters = StoreStatistics()

    let maxBatchOperations: Int
    let maxBatchDelayNanoseconds: UInt64

    init(maxBatchOperations: Int, maxBatchDelay: TimeAmount) {
        self.maxBatchOperations = max(1, maxBatchOperations)
        self.maxBatchDelayNanoseconds = UInt64(max(0, maxBatchDelay.nanoseconds))
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if os(Linux)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Queues `write`; false if the queue is closed.
    func submit(_ write: PendingWrite) -> Bool {
        pthread_mutex_lock(mutex)
        if closing {
            pthread_mutex_unlock(mutex)
            return false
        }
        let wasEmpty = pending.isEmpty
        if wasEmpty { oldestArrival = Self.monotonicNanoseconds() }
        pending.append(write)
        let before = pendingOperations
        pendingOperations += write.operations.count
        // The writer sleeps without a deadline only on an empty queue, and with one until the
        // batch is full: wake it only for those two changes.
        let wake = wasEmpty || (before < maxBatchOperations && pendingOperations >= maxBatchOperations)
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
        return true
    }

    /// Stops accepting writes; the writer drains what is queued, then ``nextBatch()`` returns nil.
    /// Returns false if it was already closed.
    @discardableResult
    func close() -> Bool {
        pthread_mutex_lock(mutex)
        let wasOpen = !closing
        closing = true
        pthread_mutex_unlock(mutex)
        pthread_cond_broadcast(condition)
        return wasOpen
    }

    /// Blocks until a batch is due and takes it (whole entries, at most `maxBatchOperations`
    /// operations unless one entry alone has more). Returns nil when closed and empty.
    func nextBatch() -> [PendingWrite]? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if pending.isEmpty {
                if closing { return nil }
                pthread_cond_wait(condition, mutex)
                continue
            }
            if closing || pendingOperations >= maxBatchOperations || maxBatchDelayNanoseconds == 0 { break }
            let deadline = oldestArrival &+ maxBatchDelayNanoseconds
            if Self.monotonicNanoseconds() >= deadline { break }
            waitUntil(deadline)
        }
        return takeBatch()
    }

    private func waitUntil(_ deadline: UInt64) {
        #if os(Linux)
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &time)
        #else
        let remaining = deadline &- Self.monotonicNanoseconds()
        var time = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
        pthread_cond_timedwait_relative_np(condition, mutex, &time)
        #endif
    }

    private func takeBatch() -> [PendingWrite] {
        if pendingOperations <= maxBatchOperations {
            let batch = pending
            pending = []
            pending.reserveCapacity(batch.count)
            pendingOperations = 0
            return batch
        }
        var count = 0
        var taken = 0
        while taken < pending.count {
            let size = pending[taken].operations.count
            if taken > 0 && count + size > maxBatchOperations { break }
            count += size
            taken += 1
        }
        let batch = Array(pending[..<taken])
        pending.removeFirst(taken)
        pendingOperations -= count
        // The rest has waited since `oldestArrival` already: it goes in the next commit at once.
        return batch
    }

    func record(operations: Int, committed: Bool) {
        pthread_mutex_lock(mutex)
        if committed {
            counters.commits += 1
            counters.operationsCommitted += operations
        } else {
            counters.failedCommits += 1
        }
        counters.lastCommitFailed = !committed
        if !committed { counters.lastFailureNanoseconds = Self.monotonicNanoseconds() }
        pthread_mutex_unlock(mutex)
    }

    var statistics: StoreStatistics {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return counters
    }
}
