import NIOCore

/// Owns the connection and runs every SQLite call, on the store's one writer thread.
final class StoreWriter {
    private let db: SQLiteDatabase
    private let statements: OperationStatements
    private let beginStatement: SQLiteStatement
    private let commitStatement: SQLiteStatement
    private let rollbackStatement: SQLiteStatement
    private let log: @Sendable (String) -> Void
    private var failingSince: Int?
    private let observeCommit: SQLiteStore.CommitObserver?

    init(
        database: SQLiteDatabase, log: @escaping @Sendable (String) -> Void,
        observeCommit: SQLiteStore.CommitObserver? = nil
    ) throws {
        self.db = database
        self.log = log
        self.observeCommit = observeCommit
        self.statements = try OperationStatements(database)
        self.beginStatement = try database.prepare("BEGIN IMMEDIATE", persistent: true)
        self.commitStatement = try database.prepare("COMMIT", persistent: true)
        self.rollbackStatement = try database.prepare("ROLLBACK", persistent: true)
    }

    /// Commits batches until the queue is closed and drained, then closes the database.
    func run(_ queue: WriteQueue) {
        while let batch = queue.nextBatch() {
            let operations = batch.reduce(0) { $0 + $1.operations.count }
            let started = ContinuousClock.now
            let result = commit(batch)
            observeCommit?(ContinuousClock.now - started, result == nil)
            queue.record(operations: operations, committed: result == nil)
            if let error = result {
                noteFailure(error, operations: operations, unacknowledged: batch.filter { $0.promise == nil }.count)
                for write in batch { write.promise?.fail(error) }
            } else {
                noteSuccess()
                for write in batch { write.promise?.succeed(()) }
            }
        }
        close()
    }

    /// One transaction for the whole batch; on failure it is rolled back whole.
    private func commit(_ batch: [PendingWrite]) -> StoreError? {
        do {
            try beginStatement.run()
            for write in batch {
                for operation in write.operations { try statements.apply(operation) }
            }
            try commitStatement.run()
            return nil
        } catch {
            let storeError = (error as? SQLiteError)?.storeError ?? StoreError(.other, "\(error)")
            // SQLite rolls some errors back by itself (SQLITE_FULL, SQLITE_IOERR); the rest here.
            if db.isInTransaction {
                do { try rollbackStatement.run() } catch { log("store: rollback failed: \(error)") }
            }
            return storeError
        }
    }

    private func noteFailure(_ error: StoreError, operations: Int, unacknowledged: Int) {
        if failingSince == nil {
            log("store: commit of \(operations) operations failed and was rolled back: \(error)")
            failingSince = 0
        }
        failingSince! += 1
        if unacknowledged > 0 {
            log("store: \(unacknowledged) enqueued writes without a waiter were lost with the failed commit")
        }
    }

    private func noteSuccess() {
        guard let failures = failingSince else { return }
        log("store: commits succeed again after \(failures) failed")
        failingSince = nil
    }

    private func close() {
        statements.finalize()
        beginStatement.finalize()
        commitStatement.finalize()
        rollbackStatement.finalize()
        db.close()
    }
}
