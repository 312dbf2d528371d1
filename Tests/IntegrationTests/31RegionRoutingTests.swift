import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// Routing between `meridian-region` nodes over their inter-node links, on a real 3-member
    /// etcd, driven with `mosquitto_pub`/`mosquitto_sub`: a message published on one node reaches
    /// the subscribers of every node once, at the QoS it was subscribed with.
    @Suite(.enabled(if: BrokerIntegration.isMeridian, "meridian-region only"))
    struct RegionRoutingTests {
        typealias Node = RegionClusterTests.Node

        private static func eventually(_ timeout: Duration, _ condition: () async -> Bool) async -> Bool {
            await RegionClusterTests.eventually(timeout, condition)
        }

        /// A real 3-member etcd and a directory for the nodes' files, removed together.
        final class Scratch {
            let etcd: EtcdCluster
            let directory: URL

            init() async throws {
                etcd = try await EtcdCluster(size: 3)
                directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-routing")
            }

            func cleanup() {
                etcd.shutdown()
                try? FileManager.default.removeItem(at: directory)
            }

            /// `persistence true`, in a directory of the node's own.
            func persistence(_ node: String) -> String {
                "persistence true\npersistence_location \(directory.appendingPathComponent(node).path)"
            }

            /// Persistent nodes node-a and node-b, then `others`, with node-a dialing node-b through a
            /// proxy that can freeze their link or lose node-b's answers (node-b advertises the proxy).
            func nodesWithProxiedLink(others: [String] = []) async throws -> ProxiedNodes {
                let bCluster = try FreePort.allocate()
                let started = ProxiedNodes(proxy: try await BridgeBehaviourTests.FreezeProxy(target: bCluster))
                do {
                    started.nodes.append(try Node(name: "node-a", etcd: etcd, directory: directory, extra: persistence("node-a")))
                    started.nodes.append(try Node(
                        name: "node-b", etcd: etcd, directory: directory, clusterPort: bCluster,
                        extra: persistence("node-b") + "\ncluster_advertise 127.0.0.1:\(started.proxy.port)"))
                    for name in others {
                        started.nodes.append(try Node(name: name, etcd: etcd, directory: directory, extra: persistence(name)))
                    }
                } catch {
                    started.cleanup()
                    throw error
                }
                return started
            }
        }

        final class ProxiedNodes {
            let proxy: BridgeBehaviourTests.FreezeProxy
            var nodes: [Node] = []

            init(proxy: BridgeBehaviourTests.FreezeProxy) { self.proxy = proxy }

            func cleanup() {
                for node in nodes { node.process.cleanup() }
                proxy.cleanup()
            }
        }

        /// Three nodes with their links up (the cluster as a newcomer starts it).
        private static func cluster(_ etcd: EtcdCluster, in directory: URL, extra: (String) -> String = { _ in "" }) async throws -> [Node] {
            var nodes: [Node] = []
            for name in ["node-a", "node-b", "node-c"] {
                nodes.append(try Node(name: name, etcd: etcd, directory: directory, extra: extra(name)))
            }
            let linked = await eventually(.seconds(20)) {
                for node in nodes {
                    for peer in nodes where peer !== node {
                        let up = await node.linkUp(to: peer.name)
                        if !up { return false }
                    }
                }
                return true
            }
            #expect(linked, "links did not come up: \(nodes.map { "\($0.name): \($0.process.stderr)" })")
            return nodes
        }

        @Test("cross-node delivery at QoS 0, 1 and 2: a message published on node A reaches subscribers on B and C once each; an unsubscribed filter stops crossing")
        func crossNodeDelivery() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let (etcd, directory) = (scratch.etcd, scratch.directory)
            let nodes = try await Self.cluster(etcd, in: directory)
            defer { for node in nodes { node.process.cleanup() } }
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])

            for qos in 0...2 {
                let onB = try await MosquittoSub.start(port: b.mqttPort, version: .v5, topics: ["plant/\(qos)/#"], qos: qos)
                defer { onB.cleanup() }
                let onC = try await MosquittoSub.start(port: c.mqttPort, version: .v311, topics: ["plant/\(qos)/+/temp"], qos: qos)
                defer { onC.cleanup() }
                // The two filters reach node A as routes (convergence is measured by the benchmark, not here).
                let converged = await Self.eventually(.seconds(5)) { (await a.routes() ?? 0) >= 2 }
                #expect(converged, "routes on A: \(a.process.stderr)")
                for n in 1...5 {
                    try await MosquittoPub.publish(port: a.mqttPort, version: .v5, topic: "plant/\(qos)/\(n)/temp", message: "t\(n)", qos: qos)
                }
                let gotB = try await onB.waitForMessages(count: 5)
                let gotC = try await onC.waitForMessages(count: 5)
                #expect(gotB.map(\.text) == ["t1", "t2", "t3", "t4", "t5"] && gotB.allSatisfy { $0.qos == qos })
                #expect(gotC.map(\.text) == ["t1", "t2", "t3", "t4", "t5"] && gotC.allSatisfy { $0.qos == qos })
                // Nothing arrives twice (a QoS 2 message is forwarded once, and not back).
                try await Task.sleep(for: .milliseconds(300))
                #expect(onB.messages.count == 5 && onC.messages.count == 5)
                onB.cleanup()
                onC.cleanup()
                let withdrawn = await Self.eventually(.seconds(5)) { await a.routes() == 0 }
                #expect(withdrawn, "routes stayed on A")
            }
            // With no subscriber anywhere, an MQTT 5 publisher hears 0x10 No matching subscribers.
            let nobody = try await ProcessRunner.run(
                "mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(a.mqttPort)", "-V", "5", "-q", "1", "-t", "plant/none", "-m", "x", "-d"])
            #expect(nobody.stdout.contains("PUBACK") && nobody.stdout.contains("RC:16"), "\(nobody)")

            // A publisher on B and one on C reach a subscriber on A, both directions of each link.
            let onA = try await MosquittoSub.start(port: a.mqttPort, version: .v5, topics: ["back/#"], qos: 1)
            defer { onA.cleanup() }
            #expect(await Self.eventually(.seconds(5)) {
                let onB = await b.routes()
                let onC = await c.routes()
                return onB == 1 && onC == 1
            })
            try await MosquittoPub.publish(port: b.mqttPort, version: .v5, topic: "back/b", message: "from-b", qos: 1)
            try await MosquittoPub.publish(port: c.mqttPort, version: .v311, topic: "back/c", message: "from-c", qos: 1)
            let back = try await onA.waitForMessages(count: 2)
            #expect(Set(back.map(\.text)) == ["from-b", "from-c"])
            let status = await a.get("/cluster").body
            #expect(status.contains(#""received":1"#), "\(status)")
            let metrics = await a.get("/metrics").body
            #expect(metrics.contains(#"meridian_cluster_link_up{peer="node-b"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"meridian_cluster_peer_forwarded_messages{peer="node-c"} 15"#), "\(metrics)")
            #expect(metrics.contains(#"meridian_cluster_peer_received_messages{peer="node-c"} 1"#), "\(metrics)")
        }

        @Test("retained messages are cluster-wide: set on one node, a new subscriber on another gets it, and after a full cluster restart too")
        func retainedAcrossNodes() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let (etcd, directory) = (scratch.etcd, scratch.directory)
            let nodes = try await Self.cluster(etcd, in: directory) { name in
                "persistence true\npersistence_location \(directory.appendingPathComponent(name).path)"
            }
            defer { for node in nodes { node.process.cleanup() } }
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])

            try await MosquittoPub.publish(port: a.mqttPort, version: .v5, topic: "state/valve", message: "open", qos: 1, retain: true)
            let onC = try await MosquittoSub.start(port: c.mqttPort, version: .v5, topics: ["state/#"], qos: 1)
            let retained = try await onC.waitForMessages(count: 1)
            #expect(retained.first?.text == "open" && retained.first?.retain == true)
            onC.cleanup()
            // Changed on B, cleared on C: every node follows.
            try await MosquittoPub.publish(port: b.mqttPort, version: .v311, topic: "state/valve", message: "closed", qos: 1, retain: true)
            try await MosquittoPub.publish(port: c.mqttPort, version: .v5, topic: "state/pump", message: "on", qos: 0, retain: true)
            try await MosquittoPub.publish(port: c.mqttPort, version: .v5, topic: "state/gone", message: "x", qos: 1, retain: true)
            try await MosquittoPub.publish(port: c.mqttPort, version: .v5, topic: "state/gone", message: nil, qos: 1, retain: true)
            for node in nodes {
                let sub = try await MosquittoSub.start(port: node.mqttPort, version: .v5, topics: ["state/#"], qos: 1)
                defer { sub.cleanup() }
                let got = try await sub.waitForMessages(count: 2)
                try await Task.sleep(for: .milliseconds(200))
                #expect(Set(sub.messages.map { "\($0.topic)=\($0.text)" }) == ["state/valve=closed", "state/pump=on"], "\(node.name): \(got)")
            }

            // A full restart of the cluster: each node's store kept what it was told.
            for node in nodes { _ = node.process.stop() }
            for node in nodes { try node.restart() }
            #expect(await Self.eventually(.seconds(20)) { await b.get("/readyz").ok })
            let sub = try await MosquittoSub.start(port: b.mqttPort, version: .v5, topics: ["state/#"], qos: 1, waitForSuback: false)
            defer { sub.cleanup() }
            let afterRestart = try await sub.waitForMessages(count: 2, timeout: .seconds(20))
            #expect(Set(afterRestart.map { "\($0.topic)=\($0.text)" }) == ["state/valve=closed", "state/pump=on"])
        }

        /// The retained messages a new subscriber to `filter` on `node` gets, as `topic=text` (after a
        /// short wait for stragglers once the expected number arrived).
        private static func retainedValues(on node: Node, _ filter: String, expecting count: Int) async -> Set<String> {
            guard let sub = try? await MosquittoSub.start(port: node.mqttPort, version: .v5, topics: [filter], qos: 1) else { return [] }
            defer { sub.cleanup() }
            _ = try? await sub.waitForMessages(count: count, timeout: .seconds(2))
            try? await Task.sleep(for: .milliseconds(300))
            return Set(sub.messages.filter(\.retain).map { "\($0.topic)=\($0.text)" })
        }

        @Test("retained values are exchanged when a link comes up, the newer winning: a node killed while a QoS 0 change and a clear went by, with an older value queued for it, ends with the cluster's values; a node that joins later gets them all")
        func retainedRepairedAtLinkUp() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let nodes = try await Self.cluster(scratch.etcd, in: scratch.directory) { scratch.persistence($0) }
            defer { for node in nodes { node.process.cleanup() } }
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            try await MosquittoPub.publish(port: a.mqttPort, version: .v5, topic: "site/valve", message: "open", qos: 1, retain: true)
            try await MosquittoPub.publish(port: a.mqttPort, version: .v5, topic: "site/gone", message: "x", qos: 1, retain: true)
            let before = await Self.eventually(.seconds(10)) {
                await Self.retainedValues(on: c, "site/#", expecting: 2) == ["site/valve=open", "site/gone=x"]
            }
            try #require(before, "\(c.process.stderr)")

            // node-c dies. node-a sets a value at QoS 1, which waits for node-c in node-a's session of
            // it; then node-b sets a newer one, sets another topic and clears a third, all at QoS 0,
            // which nothing keeps for a node that is down.
            _ = c.process.kill9()
            try await MosquittoPub.publish(port: a.mqttPort, version: .v5, topic: "site/valve", message: "older", qos: 1, retain: true)
            try await Task.sleep(for: .milliseconds(50))
            try await MosquittoPub.publish(port: b.mqttPort, version: .v311, topic: "site/valve", message: "newer", qos: 0, retain: true)
            try await MosquittoPub.publish(port: b.mqttPort, version: .v5, topic: "site/pump", message: "on", qos: 0, retain: true)
            try await MosquittoPub.publish(port: b.mqttPort, version: .v5, topic: "site/gone", message: nil, qos: 0, retain: true)
            let expected: Set<String> = ["site/valve=newer", "site/pump=on"]
            for node in [a, b] {
                let agreed = await Self.eventually(.seconds(10)) { await Self.retainedValues(on: node, "site/#", expecting: 2) == expected }
                #expect(agreed, "\(node.name)")
            }

            try c.restart()
            let relinked = await Self.eventually(.seconds(30)) {
                let toA = await c.linkUp(to: "node-a")
                let toB = await c.linkUp(to: "node-b")
                return toA && toB
            }
            #expect(relinked, "\(c.process.stderr)")
            var seen: Set<String> = []
            let repaired = await Self.eventually(.seconds(10)) {
                seen = await Self.retainedValues(on: c, "site/#", expecting: 2)
                return seen == expected
            }
            #expect(repaired, "node-c has \(seen)\n\(c.process.stderr)")
            // Its stale values did not travel back.
            for node in [a, b] {
                let values = await Self.retainedValues(on: node, "site/#", expecting: 2)
                #expect(values == expected, "\(node.name) has \(values)")
            }

            // A fourth node, with an empty store, joins: it gets every value from the others.
            let d = try Node(name: "node-d", etcd: scratch.etcd, directory: scratch.directory, extra: scratch.persistence("node-d"))
            defer { d.process.cleanup() }
            let linked = await Self.eventually(.seconds(20)) {
                let toA = await d.linkUp(to: "node-a")
                let toC = await d.linkUp(to: "node-c")
                return toA && toC
            }
            #expect(linked, "\(d.process.stderr)")
            let joined = await Self.eventually(.seconds(10)) {
                seen = await Self.retainedValues(on: d, "site/#", expecting: 2)
                return seen == expected
            }
            #expect(joined, "node-d has \(seen)\n\(d.process.stderr)")

            // A client's user property named like the links' own mark is not read as one: the
            // message is delivered on the other node, not kept there as an exchanged value.
            let live = try await MosquittoSub.start(port: b.mqttPort, version: .v5, topics: ["site/valve"], qos: 1, extra: ["-R"])
            defer { live.cleanup() }
            try await MosquittoPub.publish(
                port: a.mqttPort, version: .v5, topic: "site/valve", message: "spoofed", qos: 1, retain: true,
                extra: ["-D", "publish", "user-property", "meridian-retained-value", "1 9000000000000000000 zz"])
            let delivered = try? await live.waitForMessages(count: 1, timeout: .seconds(5))
            #expect(delivered?.map(\.text) == ["spoofed"], "\(b.process.stderr)")
        }

        @Test("20,000 retained messages: set on node A while node B is linked, every one on B; a node that joins later gets every one from the exchange at link-up")
        func manyRetainedValues() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let a = try Node(name: "node-a", etcd: scratch.etcd, directory: scratch.directory)
            defer { a.process.cleanup() }
            let b = try Node(name: "node-b", etcd: scratch.etcd, directory: scratch.directory)
            defer { b.process.cleanup() }
            try #require(await Self.eventually(.seconds(20)) { await a.linkUp(to: "node-b") }, "\(a.process.stderr)")
            let common = ["--prefix", "bulk", "--count", "20000"]
            let published = try await PahoScript.run("retained_bulk.py", port: a.mqttPort, ["--phase", "publish"] + common, timeout: .seconds(60))
            try #require(published.succeeded, "\(published)")
            for node in [a, b] {
                let checked = try await PahoScript.run("retained_bulk.py", port: node.mqttPort, ["--phase", "check"] + common, timeout: .seconds(60))
                #expect(checked.succeeded, "\(node.name): \(checked)")
            }
            let c = try Node(name: "node-c", etcd: scratch.etcd, directory: scratch.directory)
            defer { c.process.cleanup() }
            let linked = await Self.eventually(.seconds(20)) {
                let toA = await c.linkUp(to: "node-a")
                let toB = await c.linkUp(to: "node-b")
                return toA && toB
            }
            try #require(linked, "\(c.process.stderr)")
            let joined = try await PahoScript.run("retained_bulk.py", port: c.mqttPort, ["--phase", "check"] + common, timeout: .seconds(60))
            #expect(joined.succeeded, "\(joined)\n\(c.process.stderr.suffix(2_000))")
        }

        @Test("a node with a wrong cluster_secret gets no link: its CONNECT is refused (0x86) and nothing crosses")
        func wrongSecretIsRefused() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let (etcd, directory) = (scratch.etcd, scratch.directory)
            let good = try Node(name: "node-b", etcd: etcd, directory: directory)
            defer { good.process.cleanup() }
            // A running cluster (node-b ready, with every session shard), then the misconfigured node.
            #expect(await Self.eventually(.seconds(10)) { await good.shardCounts() == ["node-b": 1_024] })
            // "node-a" sorts first, so it is the dialing end of the link.
            let bad = try Node(name: "node-a", etcd: etcd, directory: directory, secret: "not-the-cluster-secret")
            defer { bad.process.cleanup() }
            #expect(await Self.eventually(.seconds(15)) { await good.memberNames() == ["node-a", "node-b"] })
            #expect(await Self.eventually(.seconds(10)) { bad.process.stderr.contains("inter-node link refused by the peer (0x86)") }, "\(bad.process.stderr)")
            #expect(await Self.eventually(.seconds(5)) { good.process.stderr.contains("inter-node connection refused: node node-a: wrong cluster_secret") }, "\(good.process.stderr)")
            let badUp = await bad.linkUp(to: "node-b")
            let goodUp = await good.linkUp(to: "node-a")
            #expect(!badUp && !goodUp)

            // Unlinked, the misconfigured node never becomes ready for sessions: it refuses clients
            // (0x88), so nothing of theirs can go astray; the running node serves its own throughout.
            let refused = try await ProcessRunner.run(
                "mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(bad.mqttPort)", "-V", "5", "-t", "secret/data", "-m", "x", "-q", "1"], timeout: .seconds(15))
            #expect(!refused.succeeded && refused.stderr.contains("Server unavailable"), "\(refused)")
            let badReady = await bad.get("/cluster").body.contains(#""sessions_ready":false"#)
            #expect(badReady)
            let onGood = try await MosquittoSub.start(port: good.mqttPort, version: .v5, topics: ["#"], qos: 1)
            defer { onGood.cleanup() }
            try await MosquittoPub.publish(port: good.mqttPort, version: .v5, topic: "secret/data", message: "x", qos: 1)
            #expect(try await onGood.waitForMessages(count: 1).first?.text == "x")
            #expect(await good.routes() == 0)
            #expect(await good.shardCounts() == ["node-b": 1_024])

            // A raw socket that speaks plain MQTT to the cluster listener is refused as well.
            let client = try RawMQTTClient(port: good.clusterPort)
            defer { client.close() }
            try client.send(RawPacket.connect(.v5, clientID: "meridian-node", username: "node-x", password: "guess"))
            let answer = try await client.readPacket(timeout: .seconds(5))
            #expect(answer?.header == 0x20 && answer?.body.dropFirst().first == 0x87, "\(String(describing: answer))")
        }

        @Test("mTLS between nodes: nodes with certificates of the cluster's CA, each for its node's name, link without a cluster_secret and deliver across; a node whose certificate another CA signed, or whose certificate names another node, gets no link and is never ready")
        func mutualTLSLinks() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let certificates = try await TestCertificates.make()
            defer { certificates.cleanup() }
            func tls(_ ca: String, _ pair: TestCertificates.Pair) -> String {
                "cluster_cafile \(ca)\ncluster_certfile \(pair.certificate)\ncluster_keyfile \(pair.key)"
            }
            let cluster = certificates.ca.certificate
            let b = try Node(
                name: "node-b", etcd: scratch.etcd, directory: scratch.directory, secret: nil,
                extra: tls(cluster, try await certificates.node("node-b", serial: 1)))
            defer { b.process.cleanup() }
            let c = try Node(
                name: "node-c", etcd: scratch.etcd, directory: scratch.directory, secret: nil,
                extra: tls(cluster, try await certificates.node("node-c", serial: 2)))
            defer { c.process.cleanup() }
            let linked = await Self.eventually(.seconds(20)) {
                let up = await b.linkUp(to: "node-c")
                let ready = await c.sessionsReady()
                return up && ready
            }
            #expect(linked, "\(b.process.stderr)\n\(c.process.stderr)")
            let onC = try await MosquittoSub.start(port: c.mqttPort, version: .v5, topics: ["tls/#"], qos: 1)
            defer { onC.cleanup() }
            #expect(await Self.eventually(.seconds(5)) { await b.routes() == 1 })
            try await MosquittoPub.publish(port: b.mqttPort, version: .v5, topic: "tls/1", message: "over mTLS", qos: 1)
            #expect(try await onC.waitForMessages(count: 1).first?.text == "over mTLS")
            // A TLS client that shows no certificate is refused by the cluster listener (TLS 1.3 alert 116).
            let anonymous = try await ProcessRunner.run(
                "sh", ["-c", "sleep 1 | openssl s_client -connect 127.0.0.1:\(b.clusterPort) -CAfile \(certificates.ca.certificate) 2>&1"], timeout: .seconds(10))
            #expect(anonymous.stdout.contains("alert certificate required"), "\(anonymous.stdout)")

            // node-a (it dials both) has a certificate of another CA: the TLS handshakes fail both ways.
            // node-a1 (it dials both too) has one of the cluster's CA for node-c: the accepting nodes refuse it.
            // node-d (dialed by both) has one for node-b: the dialing nodes refuse what answers.
            let stranger = try Node(
                name: "node-a", etcd: scratch.etcd, directory: scratch.directory, secret: nil, extra: tls(certificates.otherCA.certificate, certificates.foreign))
            defer { stranger.process.cleanup() }
            let posingAsC = try Node(
                name: "node-a1", etcd: scratch.etcd, directory: scratch.directory, secret: nil,
                extra: tls(cluster, try await certificates.node("node-c", serial: 3)))
            defer { posingAsC.process.cleanup() }
            let posingAsB = try Node(
                name: "node-d", etcd: scratch.etcd, directory: scratch.directory, secret: nil,
                extra: tls(cluster, try await certificates.node("node-b", serial: 4)))
            defer { posingAsB.process.cleanup() }
            let everyone = ["node-a", "node-a1", "node-b", "node-c", "node-d"]
            #expect(await Self.eventually(.seconds(15)) { await b.memberNames() == everyone })
            try await Task.sleep(for: .seconds(2))
            for outsider in [stranger, posingAsC, posingAsB] {
                let outsiderUp = await outsider.linkUp(to: "node-b")
                let bToOutsider = await b.linkUp(to: outsider.name)
                let cToOutsider = await c.linkUp(to: outsider.name)
                let outsiderReady = await outsider.sessionsReady()
                #expect(!outsiderUp && !bToOutsider && !cToOutsider && !outsiderReady, "\(outsider.name): \(outsider.process.stderr)")
            }
            #expect(b.process.stderr.contains("its certificate is for \"node-c\""), "\(b.process.stderr)")
            #expect(b.process.stderr.contains("has a certificate for \"node-b\", not for this peer"), "\(b.process.stderr)")
            let counts = await b.shardCounts()
            #expect(Set(counts.keys) == ["node-b", "node-c"], "\(counts)")
            let stillLinked = await b.linkUp(to: "node-c")
            #expect(stillLinked)
        }

        @Test("a node that stops takes its routes with it: the others drop them at once and no longer forward to it")
        func leavingNodeDropsItsRoutes() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let (etcd, directory) = (scratch.etcd, scratch.directory)
            let nodes = try await Self.cluster(etcd, in: directory)
            defer { for node in nodes { node.process.cleanup() } }
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let onB = try await MosquittoSub.start(port: b.mqttPort, version: .v5, topics: ["x/#"], qos: 1)
            defer { onB.cleanup() }
            let onC = try await MosquittoSub.start(port: c.mqttPort, version: .v5, topics: ["x/#"], qos: 1)
            defer { onC.cleanup() }
            #expect(await Self.eventually(.seconds(5)) { await a.routes() == 2 })
            _ = b.process.stop()
            let stopped = ContinuousClock.now
            #expect(await Self.eventually(.seconds(3)) { await a.routes() == 1 })
            #expect(ContinuousClock.now - stopped < .seconds(1) + .milliseconds(500))
            try await MosquittoPub.publish(port: a.mqttPort, version: .v5, topic: "x/1", message: "still", qos: 1)
            #expect(try await onC.waitForMessages(count: 1).first?.text == "still")
            let status = await a.get("/cluster").body
            #expect(!status.contains(#""peer":"node-b""#), "\(status)")
            let metrics = await a.get("/metrics").body
            #expect(!metrics.contains(#"peer="node-b""#) && metrics.contains(#"meridian_cluster_link_up{peer="node-c"} 1"#), "\(metrics)")
            // etcd's figures: requests made (renewals at least), none failed; the shards node-a holds.
            func figure(_ name: String) -> Double? {
                metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            }
            #expect((figure("meridian_cluster_etcd_requests") ?? 0) > 0 && figure("meridian_cluster_etcd_request_failures") == 0, "\(metrics)")
            #expect((figure("meridian_cluster_etcd_request_seconds_sum") ?? 0) > 0 && (figure("meridian_cluster_etcd_request_seconds_max") ?? 0) > 0)
            // The latency histogram counts every request that succeeded, each in the +Inf bucket.
            let answered = (figure("meridian_cluster_etcd_requests") ?? 0) - (figure("meridian_cluster_etcd_request_failures") ?? 0)
            let histogramCount = figure("meridian_cluster_etcd_request_duration_seconds_count") ?? 0
            #expect(histogramCount > 0 && histogramCount <= answered + 10, "\(metrics)")
            #expect(figure(#"meridian_cluster_etcd_request_duration_seconds_bucket{le="+Inf"}"#) == histogramCount, "\(metrics)")
            // (node-b's shards are moving to the other two just now: some share of the 1,024.)
            #expect((figure("meridian_cluster_session_shards") ?? 0) > 0 && (figure("meridian_cluster_session_shards") ?? 2_000) <= 1_024, "\(metrics)")
        }

        @Test("kill -9 of the forwarding node: every QoS 1 and 2 message it acknowledged reaches a persistent subscriber on another node once it is back (QoS 2 exactly once, no QoS 1 duplicate)")
        func forwardingNodeKilled() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let directory = scratch.directory
            // node-a dials node-b through a proxy that can make the link go silent.
            let started = try await scratch.nodesWithProxiedLink()
            defer { started.cleanup() }
            let (a, b, proxy) = (started.nodes[0], started.nodes[1], started.proxy)
            let linked = await Self.eventually(.seconds(20)) { await a.linkUp(to: "node-b") }
            try #require(linked, "\(a.process.stderr)\n\(b.process.stderr)")

            // A persistent session on node-b, offline, whose route node-a holds.
            let clientID = "durable-\(UInt32.random(in: 0...UInt32.max))"
            let topic = "burst/\(clientID)"
            let session = try await MosquittoSub.start(
                port: b.mqttPort, version: .v5, topics: [topic], qos: 2, clientID: clientID, cleanSession: false, sessionExpiry: 300)
            session.cleanup()
            #expect(await Self.eventually(.seconds(5)) { await a.routes() == 1 })

            // The publisher connects to node-a (its session granted over the link), then the link
            // goes silent: what node-a forwards from now on is lost on the way. The publisher has
            // every acknowledgement from node-a, and then node-a dies.
            let connectedFile = directory.appendingPathComponent("publisher-connected").path
            let goFile = directory.appendingPathComponent("publisher-go").path
            let common = ["--client-id", clientID, "--topic", topic, "--count", "200", "--protocol", "5"]
            let publishing = Task {
                try await PahoScript.run(
                    "durable_burst.py", port: b.mqttPort,
                    ["--phase", "publish", "--session-made", "--publish-port", "\(a.mqttPort)", "--connected-file", connectedFile, "--go-file", goFile] + common,
                    timeout: .seconds(60))
            }
            let connected = await Self.eventually(.seconds(15)) { FileManager.default.fileExists(atPath: connectedFile) }
            try await proxy.freeze()
            FileManager.default.createFile(atPath: goFile, contents: nil)
            let published = try await publishing.value
            #expect(connected)
            _ = a.process.kill9()
            try #require(published.succeeded, "\(published)\n\(a.process.stderr)")
            try await proxy.thaw()

            // node-a comes back (with a new incarnation, once its old lease expired), redials, and
            // sends what its session of node-b still holds.
            try a.restart()
            #expect(await Self.eventually(.seconds(30)) { await a.linkUp(to: "node-b") }, "\(a.process.stderr)")
            let received = try await PahoScript.run(
                "durable_burst.py", port: b.mqttPort, ["--phase", "receive", "--publish-port", "\(a.mqttPort)"] + common, timeout: .seconds(60))
            #expect(received.succeeded, "\(received)\n\(a.process.stderr)\n\(b.process.stderr)")
        }

        @Test("kill -9 of the receiving node between routing QoS 2 messages and their release: the forwarding node's resends after the restart are recognised (the identifiers are in the store) and each QoS 2 message reaches the subscriber exactly once")
        func receivingNodeKilledBeforeRelease() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let directory = scratch.directory
            // node-a dials node-b through a proxy that can lose node-b's answers (PUBREC) on the way.
            let started = try await scratch.nodesWithProxiedLink()
            defer { started.cleanup() }
            let (a, b, proxy) = (started.nodes[0], started.nodes[1], started.proxy)
            let linked = await Self.eventually(.seconds(20)) { await a.linkUp(to: "node-b") }
            try #require(linked, "\(a.process.stderr)\n\(b.process.stderr)")
            let ready = await Self.eventually(.seconds(10)) {
                let aReady = await a.sessionsReady()
                let bReady = await b.sessionsReady()
                return aReady && bReady
            }
            try #require(ready)

            // A persistent session on node-b, offline, whose route node-a holds.
            let clientID = "receiver-\(UInt32.random(in: 0...UInt32.max))"
            let topic = "burst/\(clientID)"
            let session = try await MosquittoSub.start(
                port: b.mqttPort, version: .v5, topics: [topic], qos: 2, clientID: clientID, cleanSession: false, sessionExpiry: 300)
            session.cleanup()
            #expect(await Self.eventually(.seconds(5)) { await a.routes() == 1 })

            // node-b routes and stores every message node-a forwards, but its acknowledgements are lost.
            let count = 50
            let connectedFile = directory.appendingPathComponent("publisher-connected").path
            let goFile = directory.appendingPathComponent("publisher-go").path
            let common = ["--client-id", clientID, "--topic", topic, "--count", "\(count)", "--protocol", "5"]
            let publishing = Task {
                try await PahoScript.run(
                    "durable_burst.py", port: b.mqttPort,
                    ["--phase", "publish", "--session-made", "--publish-port", "\(a.mqttPort)", "--connected-file", connectedFile, "--go-file", goFile] + common,
                    timeout: .seconds(60))
            }
            let connected = await Self.eventually(.seconds(15)) { FileManager.default.fileExists(atPath: connectedFile) }
            try await proxy.dropReplies()
            FileManager.default.createFile(atPath: goFile, contents: nil)
            let published = try await publishing.value
            try #require(connected && published.succeeded, "\(published)")
            let receivedAll = await Self.eventually(.seconds(10)) {
                await b.get("/metrics").body.contains(#"meridian_cluster_peer_received_messages{peer="node-a"} \#(2 * count)"#)
            }
            let metrics = await b.get("/metrics").body
            #expect(receivedAll, "\(metrics)")
            try await Task.sleep(for: .milliseconds(500))  // node-b's commits of what it routed
            _ = b.process.kill9()
            try await proxy.forwardReplies()

            // node-b comes back from its store; node-a redials and resends all it still holds (DUP 1).
            try b.restart()
            #expect(await Self.eventually(.seconds(30)) { await a.linkUp(to: "node-b") }, "\(b.process.stderr)")
            // QoS 1 resends are duplicates by design (at least once); QoS 2 ones must not be.
            let received = try await PahoScript.run(
                "durable_burst.py", port: b.mqttPort,
                ["--phase", "receive", "--publish-port", "\(a.mqttPort)", "--max-qos1-duplicates", "\(count)"] + common,
                timeout: .seconds(60))
            #expect(received.succeeded, "\(received)\n\(a.process.stderr)\n\(b.process.stderr)")
        }

        @Test("a node cut off from etcd and from its peers fences itself within membership_ttl while the other two keep serving and delivering to each other; it serves again, with a new incarnation, when the cut heals")
        func partitionedNodeFences() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let (etcd, directory) = (scratch.etcd, scratch.directory)
            // node-c reaches etcd, and is reached by its peers, only through proxies that can go silent.
            var proxies: [BridgeBehaviourTests.FreezeProxy] = []
            defer { for proxy in proxies { proxy.cleanup() } }
            for member in etcd.members { proxies.append(try await BridgeBehaviourTests.FreezeProxy(target: member.client)) }
            let cCluster = try FreePort.allocate()
            let linkProxy = try await BridgeBehaviourTests.FreezeProxy(target: cCluster)
            proxies.append(linkProxy)
            let a = try Node(name: "node-a", etcd: etcd, directory: directory)
            defer { a.process.cleanup() }
            let b = try Node(name: "node-b", etcd: etcd, directory: directory)
            defer { b.process.cleanup() }
            let c = try Node(
                name: "node-c", etcd: etcd, directory: directory, clusterPort: cCluster,
                etcdEndpoints: proxies.dropLast().map { "http://127.0.0.1:\($0.port)" },
                extra: "cluster_advertise 127.0.0.1:\(linkProxy.port)")
            defer { c.process.cleanup() }
            let linked = await Self.eventually(.seconds(20)) {
                let ab = await a.linkUp(to: "node-b")
                let ac = await a.linkUp(to: "node-c")
                let bc = await b.linkUp(to: "node-c")
                return ab && ac && bc
            }
            try #require(linked, "\(c.process.stderr)")
            let incarnation = await c.incarnation()
            let onB = try await MosquittoSub.start(port: b.mqttPort, version: .v5, topics: ["p/#"], qos: 1)
            defer { onB.cleanup() }
            #expect(await Self.eventually(.seconds(5)) { await a.routes() == 1 })

            for proxy in proxies { try await proxy.freeze() }
            let cut = ContinuousClock.now
            #expect(await Self.eventually(.seconds(5)) { !(await c.get("/readyz").ok) })
            #expect(ContinuousClock.now - cut < .seconds(3), "fenced after \(ContinuousClock.now - cut)")
            let refused = try await ProcessRunner.run("mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(c.mqttPort)", "-V", "5", "-t", "p/c", "-m", "m"])
            #expect(!refused.succeeded && refused.stderr.contains("Server unavailable"), "\(refused)")
            // The majority side: node-c leaves its view when its lease expires; it serves and delivers throughout.
            #expect(await Self.eventually(.seconds(6)) { await a.memberNames() == ["node-a", "node-b"] })
            let aReady = await a.get("/readyz").ok
            let bReady = await b.get("/readyz").ok
            #expect(aReady && bReady)
            try await MosquittoPub.publish(port: a.mqttPort, version: .v5, topic: "p/1", message: "majority", qos: 1)
            #expect(try await onB.waitForMessages(count: 1).first?.text == "majority")

            for proxy in proxies { try await proxy.thaw() }
            #expect(await Self.eventually(.seconds(30)) { await c.get("/readyz").ok }, "\(c.process.stderr)")
            let rejoined = await c.incarnation()
            #expect(incarnation != nil && rejoined != nil && rejoined != incarnation)
            #expect(await Self.eventually(.seconds(20)) { await b.linkUp(to: "node-c") }, "\(c.process.stderr)")
            #expect(await Self.eventually(.seconds(5)) { await c.routes() == 1 })
            // Serving clients again once linked to the ready members (the links redial after the cut).
            #expect(await Self.eventually(.seconds(20)) { await c.sessionsReady() }, "\(c.process.stderr)")
            try await MosquittoPub.publish(port: c.mqttPort, version: .v5, topic: "p/2", message: "healed", qos: 1)
            #expect(try await onB.waitForMessages(count: 2).last?.text == "healed")
        }

        @Test("a shared subscription spread over nodes: each message reaches one member cluster-wide, a member on the publisher's node first, and plain subscribers still get every message once")
        func sharedSubscriptionAcrossNodes() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let (etcd, directory) = (scratch.etcd, scratch.directory)
            let nodes = try await Self.cluster(etcd, in: directory)
            defer { for node in nodes { node.process.cleanup() } }
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let memberB = try await MosquittoSub.start(port: b.mqttPort, version: .v5, topics: ["$share/workers/jobs/#"], qos: 1)
            defer { memberB.cleanup() }
            let memberC = try await MosquittoSub.start(port: c.mqttPort, version: .v311, topics: ["$share/workers/jobs/#"], qos: 1)
            defer { memberC.cleanup() }
            let plainB = try await MosquittoSub.start(port: b.mqttPort, version: .v5, topics: ["jobs/#"], qos: 1)
            defer { plainB.cleanup() }
            #expect(await Self.eventually(.seconds(5)) { await a.routes() == 3 }, "routes on A")

            // No member on A: the group's messages go to B's and C's members, each message to one.
            let first = (1...20).map { "job-\($0)" }
            try await MosquittoPub.publishLines(port: a.mqttPort, version: .v5, topic: "jobs/x", lines: first, qos: 1)
            _ = try await plainB.waitForMessages(count: 20)
            #expect(await Self.eventually(.seconds(5)) { memberB.messages.count + memberC.messages.count >= 20 })
            try await Task.sleep(for: .milliseconds(300))
            let shared = memberB.messages.map(\.text) + memberC.messages.map(\.text)
            #expect(shared.sorted() == first.sorted(), "each message once over the group: \(shared)")
            #expect(!memberB.messages.isEmpty && !memberC.messages.isEmpty, "both nodes' members got some")
            #expect(plainB.messages.map(\.text) == first, "the plain subscriber on B: every message once")

            // A member on A: it takes the group's messages; the other nodes' members get none of them.
            let memberA = try await MosquittoSub.start(port: a.mqttPort, version: .v5, topics: ["$share/workers/jobs/#"], qos: 1)
            defer { memberA.cleanup() }
            let second = (1...10).map { "local-\($0)" }
            try await MosquittoPub.publishLines(port: a.mqttPort, version: .v5, topic: "jobs/y", lines: second, qos: 1)
            #expect(try await memberA.waitForMessages(count: 10).map(\.text) == second)
            _ = try await plainB.waitForMessages(count: 30)
            try await Task.sleep(for: .milliseconds(300))
            #expect(memberB.messages.count + memberC.messages.count == 20)
            // And from B: B's own member first.
            try await MosquittoPub.publish(port: b.mqttPort, version: .v5, topic: "jobs/z", message: "from-b", qos: 1)
            let fromB = try await memberB.waitForMessage("from-b") { $0.text == "from-b" }
            #expect(fromB.last?.text == "from-b")
            try await Task.sleep(for: .milliseconds(300))
            #expect(memberA.messages.count == 10 && !memberC.messages.contains { $0.text == "from-b" })
        }

        @Test("a shared subscription's member that leaves with unacknowledged QoS 1 messages: they are redelivered to a member of the group on another node")
        func sharedRedeliveryAcrossNodes() async throws {
            let scratch = try await Scratch()
            defer { scratch.cleanup() }
            let nodes = try await Self.cluster(scratch.etcd, in: scratch.directory)
            defer { for node in nodes { node.process.cleanup() } }
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let result = try await PahoScript.run(
                "shared_redelivery.py", port: b.mqttPort,
                ["--other-port", "\(c.mqttPort)", "--publish-port", "\(a.mqttPort)", "--count", "10"], timeout: .seconds(60))
            #expect(result.succeeded, "\(result)\n\(b.process.stderr)")
        }
    }
}
