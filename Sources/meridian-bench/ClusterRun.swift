import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of a cluster scenario (``Scenario/cluster``): for Meridian a fresh region cluster — a
/// one-member etcd and two `meridian-region` nodes, A and B, with their inter-node link up — and
/// the load with its publishers on A and its subscribers on A (same node) or on B (cross-node,
/// `mqttload -o`); for Mosquitto the same load on one fresh broker. CPU per message counts both
/// nodes (etcd excluded).
struct ClusterRun {
    let scenario: Scenario
    let spec: BrokerSpec
    let rep: Int
    let options: Options
    let generator: LoadGenerator
    let workDir: String

    private var cluster: Scenario.Cluster { scenario.cluster! }
    private var name: String { "\(scenario.name).\(spec.id).\(rep)" }

    func run() throws -> RunRecord {
        guard spec.family == .meridian else {
            let port = try Loopback.freePorts(1)[0]
            let broker = try Broker.start(spec, port: port, workDir: workDir, name: name)
            defer { broker.stop() }
            var record = try measure(scenario, against: broker, nodes: [broker])
            if !broker.process.isRunning { record.brokerDied = true }
            return record
        }
        let ports = try Loopback.freePorts(6)
        let etcd = try startEtcd(client: ports[0], peer: ports[1])
        defer {
            etcd.terminate(grace: 5)
            if !options.keepWorkDir { try? FileManager.default.removeItem(atPath: "\(workDir)/\(name).etcd") }
        }
        let region = BrokerSpec(id: spec.id, label: spec.label, family: .meridian, executable: regionPath, tcpNoDelay: nil)
        var nodes: [Broker] = []
        defer { for node in nodes { node.stop() } }
        for (index, node) in ["node-a", "node-b"].enumerated() {
            let lines = [
                "cluster_name bench",
                "node_name \(node)",
                "cluster_listener \(ports[4 + index]) 127.0.0.1",
                "cluster_secret meridian-bench-cluster-secret",
                "etcd_endpoints http://127.0.0.1:\(ports[0])",
                "membership_ttl \(cluster.membershipTTL)",
            ]
            nodes.append(try Broker.start(region, port: ports[2 + index], workDir: workDir, name: "\(name).\(node)", extraLines: lines))
        }
        if let problem = try awaitLinks(nodes) {
            var record = RunRecord(scenario: scenario, broker: spec, rep: rep, run: .init(
                arguments: [], result: [:], statusDescription: "not run", wallSeconds: 0, brokerCPUSeconds: nil,
                generatorCPUSeconds: nil, machineBusySeconds: nil, outputTail: ""))
            record.failure = problem
            return record
        }
        if scenario.kind == .failover { return try failover(nodes) }
        var load = scenario
        var convergence: Double?
        if cluster.crossNode {
            load.arguments += ["-o", "\(nodes[1].port)", "-G", "1"]
            convergence = try routeConvergence(publishOn: nodes[0].port, subscribeOn: nodes[1].port)
        }
        var record = try measure(load, against: nodes[0], nodes: nodes)
        record.measures["route_convergence_ms"] = convergence
        if nodes.contains(where: { !$0.process.isRunning }) { record.brokerDied = true }
        return record
    }

    /// ``Scenario/Kind/failover``: the clients on node A, A killed, the time until all are on node B.
    private func failover(_ nodes: [Broker]) throws -> RunRecord {
        let clients = FailoverClients(clients: cluster.failoverClients, runName: "\(rep)")
        let sockets = try clients.connectAll(port: nodes[0].port)
        defer { for fd in sockets { close(fd) } }
        let started = monotonicSeconds()
        kill(nodes[0].pid, SIGKILL)
        let times = clients.reconnectAll(port: nodes[1].port, killedAt: started, deadline: started + 30)
        let wall = monotonicSeconds() - started
        let accepted = times.compactMap { $0 }.sorted()
        var result = ["status": accepted.count == times.count ? "ok" : "partial"]
        result["clients"] = "\(times.count)"
        var record = RunRecord(scenario: scenario, broker: spec, rep: rep, run: .init(
            arguments: [], result: result, statusDescription: "exited 0", wallSeconds: wall, brokerCPUSeconds: nil,
            generatorCPUSeconds: nil, machineBusySeconds: nil, outputTail: ""))
        record.measures["failover_connected"] = Double(accepted.count)
        record.measures["failover_all_s"] = accepted.count == times.count ? accepted.last : nil
        record.measures["failover_first_s"] = accepted.first
        record.measures["failover_p50_s"] = accepted.isEmpty ? nil : accepted[accepted.count / 2]
        record.measures["membership_ttl_s"] = Double(cluster.membershipTTL)
        if !nodes[1].process.isRunning { record.brokerDied = true }
        return record
    }

    /// The load against `broker`, with the CPU of every node.
    private func measure(_ load: Scenario, against broker: Broker, nodes: [Broker]) throws -> RunRecord {
        let before = nodes.map { ProcFS.cpuSeconds($0.pid) }
        let run = try generator.run(load, against: broker, mqttVersion: options.mqttVersion, logPath: "\(workDir)/\(name).out")
        if Interrupts.requested { throw Interrupted() }
        let after = nodes.map { ProcFS.cpuSeconds($0.pid) }
        var record = RunRecord(scenario: scenario, broker: spec, rep: rep, run: run)
        let spent = zip(before, after).map { pair -> Double? in
            guard let start = pair.0, let end = pair.1 else { return nil }
            return end - start
        }
        if !spent.contains(where: { $0 == nil }) { record.measures["broker_cpu_s"] = spent.compactMap { $0 }.reduce(0, +) }
        return record
    }

    /// Milliseconds from the SUBACK of a new subscription on node B to the first message that a
    /// publisher on node A, sending one QoS 0 message every millisecond, gets to it: an upper bound
    /// of the route's convergence (resolution about a millisecond). Nil if none arrives within 5 s.
    private func routeConvergence(publishOn publishPort: Int, subscribeOn subscribePort: Int) throws -> Double? {
        let topic = "meridian-bench/converge/\(rep)"
        let subscriber = try PersistentSubscriber(port: subscribePort, clientID: "bench-converge-sub-\(rep)", cleanSession: true)
        let publisher = try Loopback.connectedSocket(port: publishPort)
        defer { close(publisher) }
        // Each 1 ms publish leaves at once (without it Nagle holds them behind the broker's delayed ACK: ~40 ms).
        var one: Int32 = 1
        setsockopt(publisher, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        func frame(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
            var length = body.count
            var header: [UInt8] = [type]
            repeat {
                var byte = UInt8(length % 128)
                length /= 128
                if length > 0 { byte |= 0x80 }
                header.append(byte)
            } while length > 0
            return header + body
        }
        func string(_ text: String) -> [UInt8] { [UInt8(text.utf8.count >> 8), UInt8(text.utf8.count & 0xFF)] + Array(text.utf8) }
        func write(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.write(publisher, $0.baseAddress, $0.count) } }
        // CONNECT (3.1.1, clean session, no keep-alive); its CONNACK is never read, the socket buffer holds it.
        write(frame(0x10, string("MQTT") + [4, 0x02, 0, 0] + string("bench-converge-pub-\(rep)")))
        try subscriber.subscribe(topic, qos: 0)
        let subscribed = monotonicSeconds()
        let reader = Thread { try? subscriber.receive(until: 1, idle: 5, deadline: subscribed + 5) }
        reader.start()
        var sequence: UInt64 = 0
        while subscriber.counts.unique == 0 && monotonicSeconds() < subscribed + 5 {
            sequence += 1
            // 16-byte payloads: the subscriber tells messages apart by bytes 8..<16.
            let payload = [UInt8](repeating: 0, count: 8) + withUnsafeBytes(of: sequence.littleEndian, Array.init)
            write(frame(0x30, string(topic) + payload))
            usleep(1_000)
        }
        subscriber.stop()
        guard let first = subscriber.arrivals.first else { return nil }
        return (first - subscribed) * 1_000
    }

    /// `meridian-region` beside the edge binary under test.
    private var regionPath: String {
        (spec.executable as NSString).deletingLastPathComponent + "/meridian-region"
    }

    private func startEtcd(client: Int, peer: Int) throws -> ChildProcess {
        let process = try ChildProcess(executable: "/usr/bin/etcd", arguments: [
            "--name", "bench", "--data-dir", "\(workDir)/\(name).etcd",
            "--listen-client-urls", "http://127.0.0.1:\(client)", "--advertise-client-urls", "http://127.0.0.1:\(client)",
            "--listen-peer-urls", "http://127.0.0.1:\(peer)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)",
            "--initial-cluster", "bench=http://127.0.0.1:\(peer)",
        ], logPath: "\(workDir)/\(name).etcd.log")
        let deadline = monotonicSeconds() + 20
        while !Loopback.accepts(port: client) {
            if Interrupts.requested || !process.isRunning || monotonicSeconds() > deadline {
                process.terminate()
                throw BenchError("etcd did not start on 127.0.0.1:\(client); see \(workDir)/\(name).etcd.log")
            }
            usleep(20_000)
        }
        return process
    }

    /// Both nodes log their link up, that they are ready for sessions and hold session shards. Nil, or a problem.
    private func awaitLinks(_ nodes: [Broker]) throws -> String? {
        let deadline = monotonicSeconds() + 30
        let lines = ["inter-node link up", "ready for sessions", "session shards\n"]
        while !nodes.allSatisfy({ node in
            let log = readTextFile(node.process.logPath) ?? ""
            return lines.allSatisfy(log.contains)
        }) {
            if Interrupts.requested { throw Interrupted() }
            if let dead = nodes.first(where: { !$0.process.isRunning }) { return "\(dead.process.logPath): the node \(dead.process.statusDescription)" }
            if monotonicSeconds() > deadline { return "the inter-node link, or sessions, not ready within 30 s" }
            sleepSeconds(0.05)
        }
        return nil
    }
}
