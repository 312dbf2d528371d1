import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of a bridge scenario (``Scenario/Kind/bridgeAppend`` or ``Scenario/Kind/bridgeDrain``):
/// a fresh edge with persistence on (`persistence_sync normal`) in a fresh directory and one
/// bridge, `topic bench/# out 1`, to a port nothing listens on; for the drain, later a remote
/// Mosquitto behind the bench's ``Relay`` on that port.
struct BridgeRun {
    let scenario: Scenario
    let spec: BrokerSpec
    let rep: Int
    let options: Options
    let generator: LoadGenerator
    let workDir: String

    private var bridge: Scenario.Bridge { scenario.bridge! }
    private var name: String { "\(scenario.name).\(spec.id).\(rep)" }

    /// Starts the edge (and for the drain the remote), measures, stops them. An edge that does not
    /// start ends the benchmark (thrown); a failure of the bench's own part is in the record.
    func run() throws -> RunRecord {
        let dataDir = "\(workDir)/\(name).store"
        // The edge, the bridge's address (nothing listens there until the drain's relay), the remote.
        let ports = try Loopback.freePorts(3)
        let edge = try Broker.start(
            spec, port: ports[0], workDir: workDir, name: name, store: StoreSettings(location: dataDir, sync: "normal"),
            extraLines: BrokerSpec.bridgeLines(remotePort: "\(ports[1])"))
        defer {
            edge.stop()
            if !options.keepWorkDir { try? FileManager.default.removeItem(atPath: dataDir) }
        }
        if let problem = try awaitBridgeSubscribed(edge) { return failed(problem) }
        var record: RunRecord
        switch scenario.kind {
        case .bridgeDrain:
            record = try drain(edge, dataDir: dataDir, relayPort: ports[1], remotePort: ports[2])
        default:
            record = try append(edge, dataDir: dataDir)
        }
        if !edge.process.isRunning { record.brokerDied = true }
        return record
    }

    /// The bridge tries the remote only once its local side is subscribed (`bench/#`); its first
    /// refused attempt, logged as "cannot connect", says the outbox is ready. Nil, or a problem.
    private func awaitBridgeSubscribed(_ edge: Broker) throws -> String? {
        let deadline = monotonicSeconds() + 20
        while !(readTextFile(edge.process.logPath) ?? "").contains("cannot connect") {
            if Interrupts.requested { throw Interrupted() }
            if !edge.process.isRunning { return "the edge \(edge.process.statusDescription) before its bridge was ready" }
            if monotonicSeconds() > deadline { return "the bridge did not try its remote within 20 s of the edge's start" }
            sleepSeconds(0.02)
        }
        return nil
    }

    // MARK: - append

    /// The timed publish run into the outbox; then, once the edge's writes stopped, the store's growth.
    private func append(_ edge: Broker, dataDir: String) throws -> RunRecord {
        _ = try settle(edge.pid)
        let before = storeFiles(dataDir)
        let ioBefore = ProcFS.io(edge.pid)
        let run = try generator.run(
            scenario, against: edge, mqttVersion: options.mqttVersion, logPath: "\(workDir)/\(name).out")
        if Interrupts.requested { throw Interrupted() }
        var record = RunRecord(scenario: scenario, broker: spec, rep: rep, run: run)
        _ = try settle(edge.pid)
        let ioAfter = ProcFS.io(edge.pid)
        let after = storeFiles(dataDir)

        let acked = record.number("acked") ?? 0
        record.measures["messages"] = acked
        if let before = ioBefore?["write_bytes"], let after = ioAfter?["write_bytes"] {
            record.measures["write_bytes"] = Double(after - before)
        }
        record.measures["db_bytes"] = after.db
        record.measures["wal_bytes"] = after.wal
        record.measures["store_bytes"] = after.db + after.wal
        record.measures["store_growth"] = (after.db + after.wal) - (before.db + before.wal)
        record.measures["db_growth"] = after.db - before.db
        return record
    }

    // MARK: - drain

    /// Queues the backlog with the remote down, starts the remote and its subscriber, then the
    /// relay the bridge reconnects through, and waits until the subscriber has the whole backlog.
    private func drain(_ edge: Broker, dataDir: String, relayPort: Int, remotePort: Int) throws -> RunRecord {
        let messages = bridge.messages
        let backlog = try generator.run(
            scenario, against: edge, mqttVersion: options.mqttVersion, logPath: "\(workDir)/\(name).out")
        if Interrupts.requested { throw Interrupted() }
        var record = RunRecord(scenario: scenario, broker: spec, rep: rep, run: backlog)
        let acked = Int(record.number("acked") ?? 0)
        record.measures["messages"] = Double(acked)
        record.measures["append_rate"] = record.run.result["elapsed_s"].flatMap(Double.init).map { Double(acked) / $0 }
        if let cpu = record.run.result["broker_cpu_s"].flatMap(Double.init), acked > 0 {
            record.measures["append_cpu_us"] = cpu * 1e6 / Double(acked)
        }
        guard acked == messages else {
            record.failure = "the backlog: \(acked) of \(messages) publishes acknowledged (mqttload \(backlog.statusDescription))"
            return record
        }
        _ = try settle(edge.pid)
        let files = storeFiles(dataDir)
        record.measures["store_bytes"] = files.db + files.wal

        guard let mosquitto = findExecutable(options.mosquittoPath) else {
            record.failure = "mosquitto not found (\(options.mosquittoPath)) for the remote; pass --mosquitto PATH"
            return record
        }
        let remote = try Broker.start(
            .mosquitto(mosquitto, noDelay: true), port: remotePort, workDir: workDir, name: "\(name).remote",
            configuration: Self.remoteConfiguration(port: remotePort))
        defer { remote.stop() }
        let subscriber: PersistentSubscriber
        do {
            subscriber = try PersistentSubscriber(port: remotePort, clientID: "meridian-bench-remote", cleanSession: true)
            try subscriber.subscribe("bench/#", qos: 1)
        } catch {
            record.failure = "subscribing on the remote: \(error)"
            return record
        }
        let receiver = Receiver(subscriber)
        defer {
            receiver.stop()
            subscriber.disconnect()
        }

        let edgeCPUBefore = ProcFS.cpuSeconds(edge.pid)
        let remoteCPUBefore = ProcFS.cpuSeconds(remote.pid)
        let benchCPUBefore = ProcFS.cpuSeconds(getpid())
        let busyBefore = ProcFS.machineBusySeconds()
        let start = monotonicSeconds()
        let relay = try Relay(listenPort: relayPort, targetPort: remotePort)
        defer { relay.stop() }

        // Bounded: the reconnect backoff (at most 2 s), then at least 2,000 msg/s; and no stall of 20 s.
        let deadline = start + 30 + Double(messages) / 2_000
        var lastCount = 0
        var lastProgress = start
        while receiver.subscriber.counts.unique < messages {
            if Interrupts.requested { throw Interrupted() }
            if let error = receiver.error {
                record.failure = "the remote's subscriber: \(error)"
                break
            }
            let now = monotonicSeconds()
            let count = receiver.subscriber.counts.unique
            if count != lastCount {
                lastCount = count
                lastProgress = now
            }
            if now > deadline || now - lastProgress > 20 {
                record.failure = "the remote's subscriber got \(count) of \(messages) messages "
                    + "(\(now > deadline ? "time limit" : "nothing new for 20 s"))"
                break
            }
            if !edge.process.isRunning || !remote.process.isRunning { break }
            sleepSeconds(0.01)
        }
        let end = monotonicSeconds()
        let edgeCPUAfter = ProcFS.cpuSeconds(edge.pid)
        let remoteCPUAfter = ProcFS.cpuSeconds(remote.pid)
        let benchCPUAfter = ProcFS.cpuSeconds(getpid())
        let busyAfter = ProcFS.machineBusySeconds()
        if !remote.process.isRunning && record.failure == nil {
            record.failure = "the remote mosquitto \(remote.process.statusDescription) during the drain"
        }

        let stamps = relay.timestamps
        let (received, unique) = receiver.subscriber.counts
        let (first, last) = receiver.subscriber.arrivals
        record.measures["delivered"] = Double(unique)
        record.measures["lost"] = Double(max(0, messages - unique))
        record.measures["dup"] = Double(received - unique)
        record.measures["relay_connections"] = Double(stamps.connections)
        if let accepted = stamps.accepted { record.measures["reconnect_wait_s"] = accepted - start }
        if let connack = stamps.connack, let publish = stamps.firstPublish {
            record.measures["connack_to_first_ms"] = (publish - connack) * 1e3
        }
        if let first, let last, last > first {
            record.measures["drain_s"] = last - first
            record.measures["drain_rate"] = Double(unique) / (last - first)
        }
        if let connack = stamps.connack, let last {
            record.measures["connack_to_empty_s"] = last - connack
            record.measures["cpu_window_s"] = last - connack
        }
        let window = end - start
        if let before = edgeCPUBefore, let after = edgeCPUAfter { record.measures["broker_cpu_s"] = after - before }
        if let before = remoteCPUBefore, let after = remoteCPUAfter { record.measures["remote_cpu_s"] = after - before }
        if let before = benchCPUBefore, let after = benchCPUAfter { record.measures["bench_cpu_s"] = after - before }
        if let before = busyBefore, let after = busyAfter, let edgeCPU = record.measures["broker_cpu_s"],
           let remoteCPU = record.measures["remote_cpu_s"], let benchCPU = record.measures["bench_cpu_s"], window > 0
        {
            record.measures["other_load"] = max(0, (after - before) - edgeCPU - remoteCPU - benchCPU) / window
        }
        if let error = stamps.error, record.failure == nil { record.failure = "relay: \(error)" }
        if stamps.connections > 1 && record.failure == nil {
            record.failure = "the bridge connected \(stamps.connections) times during the drain"
        }
        return record
    }

    /// The remote: nothing throttles the bridge or the subscriber (no queue or in-flight limit).
    static func remoteConfiguration(port: Int) -> String {
        [
            "# Written by meridian-bench: the remote of bridge-drain.",
            "listener \(port) 127.0.0.1",
            "allow_anonymous true",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "set_tcp_nodelay true",
        ].joined(separator: "\n") + "\n"
    }

    /// meridian.db and its WAL, in bytes (0 for a file that is not there).
    private func storeFiles(_ dataDir: String) -> (db: Double, wal: Double) {
        let size = { (path: String) -> Double in
            (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.doubleValue ?? 0
        }
        return (size("\(dataDir)/meridian.db"), size("\(dataDir)/meridian.db-wal"))
    }

    private func failed(_ reason: String) -> RunRecord {
        var record = RunRecord(
            scenario: scenario, broker: spec, rep: rep,
            run: LoadGenerator.Run(
                arguments: [], result: [:], statusDescription: "not run", wallSeconds: 0, brokerCPUSeconds: nil,
                generatorCPUSeconds: nil, machineBusySeconds: nil, outputTail: ""))
        record.failure = reason
        return record
    }
}
