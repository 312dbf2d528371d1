import MeridianStore
import Testing

@testable import MeridianBridge
@testable import MeridianOps

@Suite("Health and readiness rules")
struct HealthCheckTests {
    static func store(
        open: Bool = true, lastFailed: Bool = false, failedCommits: Int = 0, secondsSinceFailure: Double? = nil
    ) -> HealthCheck.StoreState {
        HealthCheck.StoreState(
            open: open,
            statistics: StoreStatistics(commits: 10, operationsCommitted: 20, failedCommits: failedCommits, lastCommitFailed: lastFailed),
            secondsSinceFailure: secondsSinceFailure
        )
    }

    static func bridge(_ name: String, connected: Bool) -> BridgeStatus {
        BridgeStatus(
            name: name, localClientID: "local.\(name)", connected: connected, queuedMessages: 0, queuedBytes: 0,
            inflight: 0, forwarded: 0, received: 0, refusedByRemote: 0, dropped: 0, reconnects: 0
        )
    }

    @Test("health", arguments: [
        (nil, false, true, "store: off"),
        (store(), false, true, "store: writable (10 commits, 0 failed)"),
        (store(lastFailed: true, failedCommits: 1, secondsSinceFailure: 0), false, false, "the last commit failed"),
        (store(failedCommits: 1, secondsSinceFailure: 5), false, false, "a commit failed 5 s ago"),
        (store(failedCommits: 1, secondsSinceFailure: 61), false, true, "store: writable (10 commits, 1 failed)"),
        (store(), true, false, "below the persistence_min_free floor"),
        (nil, true, true, "store: off"),
    ] as [(HealthCheck.StoreState?, Bool, Bool, String)])
    func health(store: HealthCheck.StoreState?, diskLow: Bool, ok: Bool, line: String) {
        let report = HealthCheck.health(store: store, diskLow: diskLow)
        #expect(report.ok == ok)
        #expect(report.body.hasPrefix(ok ? "ok\nprocess: alive\n" : "not ok\nprocess: alive\n"))
        #expect(report.body.contains(line), "\(report.body)")
    }

    @Test("readiness: listeners and the store")
    func readinessOfBroker() {
        func ready(listening: Bool, store: HealthCheck.StoreState?, diskLow: Bool = false) -> HealthReport {
            HealthCheck.readiness(
                listening: listening, store: store, diskLow: diskLow, requireBridges: false, bridgeNames: [], bridges: [])
        }
        #expect(ready(listening: true, store: Self.store()).body == "ok\nlisteners: up\nstore: open\n")
        #expect(ready(listening: true, store: nil).body == "ok\nlisteners: up\n")
        #expect(ready(listening: false, store: Self.store()).body == "not ok\nlisteners: not up\nstore: open\n")
        #expect(ready(listening: true, store: Self.store(open: false)).ok == false)
        #expect(ready(listening: true, store: Self.store(lastFailed: true)).ok == false)
        #expect(ready(listening: true, store: Self.store(), diskLow: true).ok == false)
    }

    @Test("readiness: bridges count only with ready_requires_bridge", arguments: [false, true])
    func readinessOfBridges(required: Bool) {
        let statuses = [Self.bridge("a", connected: true), Self.bridge("b", connected: false)]
        let report = HealthCheck.readiness(
            listening: true, store: nil, diskLow: false, requireBridges: required, bridgeNames: ["b", "a", "c"],
            bridges: statuses)
        let suffix = required ? "" : " (not required)"
        #expect(report.ok == !required)
        #expect(report.lines == [
            "listeners: up", "bridge a: connected\(suffix)", "bridge b: not connected\(suffix)", "bridge c: not connected\(suffix)",
        ])
        let allUp = HealthCheck.readiness(
            listening: true, store: nil, diskLow: false, requireBridges: required, bridgeNames: ["a"], bridges: statuses)
        #expect(allUp.ok)
    }
}
