import MeridianStore
import Prometheus
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The store's series of `/metrics`. The commit latency histogram is fed by the store's writer
/// thread once per commit batch (``SQLiteStore/CommitObserver``); the rest is read at scrape time.
struct StoreMetricFamilies {
    let commitDuration: DurationHistogram
    let commits: Counter
    let failedCommits: Counter
    let operations: Counter
    let size: Gauge

    /// From 100 µs (a WAL commit without fsync) to 2.5 s (an fsync on a slow SD card).
    static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
    ]

    init(registry r: PrometheusCollectorRegistry) {
        commitDuration = r.makeDurationHistogram(
            descriptor: PrometheusCollectorRegistry.descriptor(
                "meridian_store_commit_duration_seconds", "Duration of store transactions (one per commit batch)."),
            buckets: Self.buckets
        )
        commits = r.counter("meridian_store_commits_total", "Store transactions committed.")
        failedCommits = r.counter("meridian_store_commit_failures_total", "Store transactions that failed and were rolled back.")
        operations = r.counter("meridian_store_operations_total", "Operations in committed store transactions.")
        size = r.gauge("meridian_store_size_bytes", "Bytes of the store's files (meridian.db and its WAL).")
    }

    func update(statistics: StoreStatistics?, directory: String?) {
        guard let statistics else { return }
        commits.mirror(statistics.commits)
        failedCommits.mirror(statistics.failedCommits)
        operations.mirror(statistics.operationsCommitted)
        if let directory { size.set(Self.fileBytes(directory: directory)) }
    }

    /// The sizes of `meridian.db`, `meridian.db-wal` and `meridian.db-shm` together.
    static func fileBytes(directory: String) -> Int {
        ["meridian.db", "meridian.db-wal", "meridian.db-shm"].reduce(0) { total, name in
            var info = stat()
            guard stat(directory + "/" + name, &info) == 0 else { return total }
            return total + Int(info.st_size)
        }
    }
}
