/// One `mqttload` run against one broker, and the figures derived from it.
struct RunRecord {
    let scenario: Scenario
    let broker: BrokerSpec
    /// 1-based repetition.
    let rep: Int
    let run: LoadGenerator.Run
    /// The broker died during this run.
    var brokerDied = false
    /// What the bench measured itself in a store scenario (write bytes, the subscriber's counts,
    /// broker CPU); these keys take precedence over mqttload's.
    var measures: [String: Double] = [:]
    /// Set when the bench's own part of a store scenario failed.
    var failure: String?

    func number(_ key: String) -> Double? { measures[key] ?? run.result[key].flatMap(Double.init) }

    /// Store and bridge scenarios: one publisher, no mqttload subscriber.
    private var isStoreRun: Bool { scenario.store != nil || scenario.bridge != nil }

    /// Publishes each run of a store or bridge scenario must have acknowledged.
    private var expectedAcks: Int? { scenario.store?.messages ?? scenario.bridge?.messages }

    /// mqttload's status (`ok`, `lost`, `time_limit`, `partial`, `setup_failed`), or `no_result`.
    /// Store scenarios add `unacknowledged` (not every publish acknowledged), `lost` (the
    /// subscriber got fewer distinct messages than were acknowledged) and `failed` (setup).
    var status: String {
        if brokerDied { return "broker_died" }
        if failure != nil { return "failed" }
        let status = run.result["status"] ?? "no_result"
        guard status == "ok", let expected = expectedAcks else { return status }
        guard let acked = number("acked"), acked >= Double(expected) else { return "unacknowledged" }
        if let lost, lost > 0 { return "lost" }
        return status
    }

    var isOK: Bool { status == "ok" }

    /// Delivered messages per second (all subscribers together), first send to last receipt;
    /// in the store scenarios acknowledged publishes per second, first send to last PUBACK; in
    /// bridge-drain the backlog's messages per second, first to last arrival on the remote.
    var throughput: Double? {
        guard isStoreRun else { return number("throughput") }
        if scenario.kind == .bridgeDrain { return number("drain_rate") }
        guard let acked = number("acked"), let elapsed = number("elapsed_s"), elapsed > 0 else { return nil }
        return acked / elapsed
    }

    /// Messages the CPU figure is divided by: deliveries, or in the store scenarios acknowledged publishes.
    var delivered: Double? { isStoreRun ? number("acked") : number("received") }

    /// Broker CPU seconds: mqttload's reading over the publish phase, or else ours from
    /// `/proc` around the whole run.
    var brokerCPUSeconds: Double? {
        if let seconds = number("broker_cpu_s"), seconds >= 0 { return seconds }
        return run.brokerCPUSeconds
    }

    /// Broker CPU microseconds per delivered message.
    var cpuMicrosPerMessage: Double? {
        guard let cpu = brokerCPUSeconds, let delivered, delivered > 0 else { return nil }
        return cpu * 1e6 / delivered
    }

    /// Broker CPU time over the run's wall time, 1.0 = one core busy.
    var brokerCores: Double? {
        guard let cpu = brokerCPUSeconds, let elapsed = number("cpu_window_s") ?? number("elapsed_s"), elapsed > 0
        else { return nil }
        return cpu / elapsed
    }

    /// CPU used during the run by everything but the broker and the load generator, over the
    /// run's wall time (1.0 = one core): other work on a shared machine that makes the
    /// numbers noisy.
    var otherLoad: Double? {
        if let measured = measures["other_load"] { return measured }
        guard let busy = run.machineBusySeconds, let broker = run.brokerCPUSeconds,
              let generator = run.generatorCPUSeconds, run.wallSeconds > 0
        else { return nil }
        return max(0, busy - broker - generator) / run.wallSeconds
    }

    /// mqttload's latency; none in the store scenarios (no mqttload subscriber).
    var p50: Double? { isStoreRun ? nil : number("p50_us") }
    var p99: Double? { isStoreRun ? nil : number("p99_us") }
    var lost: Double? { number("lost") }
    var duplicates: Double? { number("dup") }
    var bytesPerConnection: Double? { number("bytes_per_conn") }

    /// Store scenarios: the broker's `write_bytes` over the measured part, per message and per payload byte.
    var writeBytesPerMessage: Double? {
        guard let bytes = number("write_bytes"), let messages = number("messages"), messages > 0 else { return nil }
        return bytes / messages
    }

    var writeAmplification: Double? {
        guard let perMessage = writeBytesPerMessage, let store = scenario.store else { return nil }
        return perMessage / Double(store.payloadBytes)
    }

    /// A measure divided by the messages of the run (store bytes per queued message, CPU per message).
    func perMessage(_ key: String, scale: Double = 1) -> Double? {
        guard let value = number(key), let messages = number("messages"), messages > 0 else { return nil }
        return value * scale / messages
    }

    /// Write amplification: meridian.db and its WAL after the run.
    var storeBytes: Double? { number("store_bytes") }
}
