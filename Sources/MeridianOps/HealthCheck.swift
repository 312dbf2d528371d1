import MeridianBridge
import MeridianStore

/// The answer of `/healthz` or `/readyz`: a verdict and one line per check, for the body.
public struct HealthReport: Sendable, Equatable {
    public var ok: Bool
    public var lines: [String]

    /// `ok` or `not ok`, then the checks, one per line.
    public var body: String {
        ([ok ? "ok" : "not ok"] + lines).joined(separator: "\n") + "\n"
    }
}

/// The rules of `/healthz` and `/readyz`, apart from HTTP so that they read as a table.
///
/// Health (liveness) is about this process being able to do its job at all: it answers, and
/// its store takes writes (the last commit did not fail and the free-space floor is not
/// breached). Readiness adds what a client needs to be served: every listener bound, the store
/// open, and with `ready_requires_bridge true` every bridge connected to its remote.
public enum HealthCheck {
    public struct StoreState: Sendable {
        public var open: Bool
        public var statistics: StoreStatistics
        /// Seconds since the latest failed commit; nil if none failed.
        public var secondsSinceFailure: Double?

        public init(open: Bool, statistics: StoreStatistics, secondsSinceFailure: Double? = nil) {
            self.open = open
            self.statistics = statistics
            self.secondsSinceFailure = secondsSinceFailure
        }
    }

    /// How long a failed commit keeps the store "not writable". On a full disk small commits
    /// (deletes, session updates) still succeed between failing stores of messages, so one
    /// success does not prove the store takes writes again; a minute without failures does.
    public static let failureWindowSeconds = 60.0

    /// - Parameter store: nil when persistence is off.
    public static func health(store: StoreState?, diskLow: Bool) -> HealthReport {
        var report = HealthReport(ok: true, lines: ["process: alive"])
        guard let store else {
            report.lines.append("store: off (persistence false)")
            return report
        }
        if store.statistics.lastCommitFailed {
            report.ok = false
            report.lines.append("store: not writable: the last commit failed (disk full or I/O error)")
        } else if let seconds = store.secondsSinceFailure, seconds < failureWindowSeconds {
            report.ok = false
            report.lines.append(
                "store: not writable: a commit failed \(Int(seconds)) s ago (disk full or I/O error); "
                    + "healthy again after \(Int(failureWindowSeconds)) s without failures")
        } else {
            report.lines.append("store: writable (\(store.statistics.commits) commits, \(store.statistics.failedCommits) failed)")
        }
        if diskLow {
            report.ok = false
            report.lines.append("store disk: below the persistence_min_free floor; stored messages are refused")
        }
        return report
    }

    /// - Parameters:
    ///   - bridgeNames: the configured bridges; `bridges` the running ones' status.
    public static func readiness(
        listening: Bool, store: StoreState?, diskLow: Bool, requireBridges: Bool, bridgeNames: [String],
        bridges: [BridgeStatus]
    ) -> HealthReport {
        let health = health(store: store, diskLow: diskLow)
        var report = HealthReport(ok: health.ok, lines: [])
        report.lines.append(listening ? "listeners: up" : "listeners: not up")
        if !listening { report.ok = false }
        if let store {
            report.lines.append(store.open ? "store: open" : "store: closed")
            if !store.open { report.ok = false }
        }
        report.lines += health.lines.dropFirst().filter { !$0.hasPrefix("store: writable") && !$0.hasPrefix("store: off") }
        let connected = Set(bridges.filter(\.connected).map(\.name))
        for name in bridgeNames.sorted() {
            let up = connected.contains(name)
            report.lines.append("bridge \(name): \(up ? "connected" : "not connected")\(requireBridges ? "" : " (not required)")")
            if requireBridges && !up { report.ok = false }
        }
        return report
    }
}
