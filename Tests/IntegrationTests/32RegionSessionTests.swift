import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// Sessions across `meridian-region` nodes on a real 3-member etcd: session shards claimed in
    /// etcd, one per node's share, and one live session per client id cluster-wide, driven with
    /// paho-mqtt.
    @Suite(.enabled(if: BrokerIntegration.isMeridian, "meridian-region only"))
    struct RegionSessionTests {
        typealias Node = RegionClusterTests.Node
        typealias Scratch = RegionRoutingTests.Scratch

        private static func eventually(_ timeout: Duration, _ condition: () async -> Bool) async -> Bool {
            await RegionClusterTests.eventually(timeout, condition)
        }

        /// Every shard claimed once, by members only, each member with a fair share.
        private static func settled(_ counts: [String: Int], members: Set<String>) -> Bool {
            counts.values.reduce(0, +) == 1_024 && Set(counts.keys) == members && counts.values.allSatisfy { $0 > 1_024 / members.count / 2 }
        }

        @Test("session shards: all 1,024 claimed in etcd, shared between the nodes; a node that joins takes its share, one that stops gives its up")
        func shardsFollowMembership() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let a = try Node(name: "node-a", etcd: scratch.etcd, directory: scratch.directory)
            defer { a.process.cleanup() }
            let alone = await Self.eventually(.seconds(10)) { Self.settled(await a.shardCounts(), members: ["node-a"]) }
            #expect(alone, "\(a.process.stderr)")

            let b = try Node(name: "node-b", etcd: scratch.etcd, directory: scratch.directory)
            defer { b.process.cleanup() }
            let c = try Node(name: "node-c", etcd: scratch.etcd, directory: scratch.directory)
            defer { c.process.cleanup() }
            let three: Set = ["node-a", "node-b", "node-c"]
            let shared = await Self.eventually(.seconds(10)) { Self.settled(await b.shardCounts(), members: three) }
            let seenByB = await b.shardCounts()
            #expect(shared, "\(seenByB)")
            // Every node sees the same claims.
            #expect(await Self.eventually(.seconds(5)) {
                let (seenByA, seenByB, seenByC) = (await a.shardCounts(), await b.shardCounts(), await c.shardCounts())
                return seenByA == seenByB && seenByB == seenByC
            })

            // A node that stops revokes its lease: its claims go, and the other two claim them.
            _ = c.process.stop()
            let taken = await Self.eventually(.seconds(10)) { Self.settled(await a.shardCounts(), members: ["node-a", "node-b"]) }
            let seenByA = await a.shardCounts()
            #expect(taken, "\(seenByA)")
        }

        @Test("one live session per client id: a client connecting to B takes its session over from A (DISCONNECT 0x8E there) and back; two CONNECTs of one id on two nodes at once end with one live connection, every time")
        func oneSessionPerClientID() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            var nodes: [Node] = []
            defer { for node in nodes { node.process.cleanup() } }
            for name in ["node-a", "node-b", "node-c"] {
                nodes.append(try Node(name: name, etcd: scratch.etcd, directory: scratch.directory))
            }
            let (a, b) = (nodes[0], nodes[1])
            let ready = await Self.eventually(.seconds(20)) {
                guard Self.settled(await a.shardCounts(), members: ["node-a", "node-b", "node-c"]) else { return false }
                for node in nodes {
                    for peer in nodes where peer !== node {
                        let up = await node.linkUp(to: peer.name)
                        if !up { return false }
                    }
                }
                return true
            }
            #expect(ready, "cluster not settled: \(nodes.map { "\($0.name): \($0.process.stderr)" })")
            let result = try await PahoScript.run("cluster_session.py", port: a.mqttPort, ["--other-port", "\(b.mqttPort)", "--rounds", "12"], timeout: .seconds(120))
            #expect(result.succeeded, "\(result)\n\(nodes.map { "\($0.name): \($0.process.stderr)" })")
        }
    }
}
