import Foundation
import Logging
import MeridianBrokerCore
import MeridianCluster
import MeridianClusterCore
import MeridianTestSupport
import NIOCore
import NIOPosix
import Testing

/// Membership and self-fencing against a real 3-member etcd cluster started by the test.
@Suite(.serialized) struct ClusterMembershipTests {
    private static let prefix = "/meridian-test/clusters/eu/members/"

    private func node(_ name: String, etcd: EtcdCluster, ttl: Int = 3, endpoints: [String]? = nil) throws -> ClusterMembership {
        let client = try EtcdGatewayClient(endpoints: endpoints ?? etcd.clientURLs, group: MultiThreadedEventLoopGroup.singleton)
        return ClusterMembership(
            settings: .init(nodeName: name, memberPrefix: Self.prefix, advertise: "127.0.0.1:\(7000 + name.count)", ttl: ttl),
            etcd: client, clock: SystemClock(), logger: Logger(label: "test.\(name)"))
    }

    /// Polls `condition` every 50 ms for at most `timeout`.
    private func eventually(_ timeout: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    @Test func nodesSeeEachOtherJoinAndLeaveAndANameIsTakenOnce() async throws {
        let etcd = try await EtcdCluster(size: 3)
        defer { etcd.shutdown() }
        let a = try node("node-a", etcd: etcd)
        let b = try node("node-b", etcd: etcd)
        try await a.join()
        try await b.join()
        #expect(a.isServing && b.isServing)
        #expect(a.incarnation! < b.incarnation!)
        let runA = Task { try await a.run() }
        let runB = Task { try await b.run() }
        #expect(await eventually(.seconds(5)) { a.members.map(\.name) == ["node-a", "node-b"] && b.members.map(\.name) == ["node-a", "node-b"] })
        #expect(a.members.first { $0.name == "node-b" }?.incarnation == b.incarnation)

        // A second live node with the same name is refused (after one TTL, since the key stays renewed).
        let duplicate = try node("node-a", etcd: etcd)
        await #expect(throws: ClusterMembership.NameTaken.self) { try await duplicate.join() }

        // A node that stops revokes its lease: the other sees it leave within a second.
        let stopped = ContinuousClock.now
        runB.cancel()
        _ = try? await runB.value
        #expect(await eventually(.seconds(1)) { a.members.map(\.name) == ["node-a"] })
        #expect(ContinuousClock.now - stopped < .seconds(1))
        runA.cancel()
        _ = try? await runA.value
    }

    @Test func aMinorityFencesItselfBeforeItsLeaseCanExpireAndServesAgainWhenQuorumReturns() async throws {
        let etcd = try await EtcdCluster(size: 3)
        defer { etcd.shutdown() }
        // TTL 4 s: etcd's new leader extends each lease by about one TTL, and on a busy machine a
        // shorter window can pass before the node's retried renewal gets through.
        let a = try node("node-a", etcd: etcd, ttl: 4)
        try await a.join()
        let first = a.incarnation!
        let run = Task { try await a.run() }
        #expect(await eventually(.seconds(2)) { a.members.map(\.name) == ["node-a"] })

        // Two of three members down: no quorum, renewals fail, and the node fences itself by its
        // deadline (4 s / 1.001 − 1 s after the last confirmed renewal was sent), within the TTL.
        etcd.stop(member: 1)
        etcd.stop(member: 2)
        let lost = ContinuousClock.now
        #expect(await eventually(.seconds(5)) { !a.isServing })
        #expect(ContinuousClock.now - lost < .seconds(4))

        // Quorum back: etcd's new leader renews every lease, so the node's lease and key survived
        // and the next renewal (retried every 250 ms after a failure) ends the fencing, with the
        // same incarnation.
        try etcd.start(member: 1)
        try etcd.start(member: 2)
        #expect(await eventually(.seconds(30)) { a.isServing })
        #expect(a.incarnation == first)
        #expect(a.members.map(\.name) == ["node-a"])
        run.cancel()
        _ = try? await run.value
    }

    @Test func aLeaseGoneInEtcdFencesAtOnceAndTheNodeJoinsAgainWithANewIncarnation() async throws {
        let etcd = try await EtcdCluster(size: 3)
        defer { etcd.shutdown() }
        let a = try node("node-a", etcd: etcd, ttl: 3)
        let b = try node("node-b", etcd: etcd, ttl: 3)
        try await a.join()
        try await b.join()
        let first = a.incarnation!
        let runA = Task { try await a.run() }
        let runB = Task { try await b.run() }
        #expect(await eventually(.seconds(2)) { b.members.count == 2 })

        // The lease is revoked behind the node's back (as if etcd had expired it).
        let leases = try await EtcdCluster.post(etcd.clientURLs[0] + "/v3/lease/leases", "{}")
        let range = try await EtcdCluster.post(etcd.clientURLs[0] + "/v3/kv/range", #"{"key":"\#(base64(Self.prefix + "node-a"))"}"#)
        let lease = try #require(field("lease", in: range))
        #expect(leases.contains(lease))
        _ = try await EtcdCluster.post(etcd.clientURLs[0] + "/v3/lease/revoke", #"{"ID":"\#(lease)"}"#)
        // The other node sees the key go at once; node-a finds out at its next renewal and joins again.
        #expect(await eventually(.seconds(2)) {
            b.members.first { $0.name == "node-a" }.map { $0.incarnation > first } ?? false || b.members.count == 1
        })
        #expect(await eventually(.seconds(5)) { a.isServing && (a.incarnation ?? 0) > first })
        #expect(await eventually(.seconds(2)) { b.members.first { $0.name == "node-a" }?.incarnation == a.incarnation })
        runA.cancel()
        runB.cancel()
        _ = try? await runA.value
        _ = try? await runB.value
    }

    private func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// A string field of the gateway's JSON, by a plain search (`"name":"value"`).
    private func field(_ name: String, in json: String) -> String? {
        guard let range = json.range(of: "\"\(name)\":\"") else { return nil }
        let rest = json[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }
}
