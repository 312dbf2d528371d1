/// One `mqttload` run against one broker, and the figures derived from it.
struct RunRecord {
    let scenario: Scenario
    let broker: BrokerSpec
    /// 1-based repetition.
    let rep: Int
    let run: LoadGenerator.Run
    /// The broker died during this run.
    var brokerDied = false

    func number(_ key: String) -> Double? { run.result[key].flatMap(Double.init) }

    /// mqttload's status (`ok`, `lost`, `time_limit`, `partial`, `setup_failed`), or `no_result`.
    var status: String {
        if brokerDied { return "broker_died" }
        return run.result["status"] ?? "no_result"
    }

    var isOK: Bool { status == "ok" }

    /// Delivered messages per second (all subscribers together), first send to last receipt.
    var throughput: Double? { number("throughput") }

    var delivered: Double? { number("received") }

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
        guard let cpu = brokerCPUSeconds, let elapsed = number("elapsed_s"), elapsed > 0 else { return nil }
        return cpu / elapsed
    }

    /// CPU used during the run by everything but the broker and the load generator, over the
    /// run's wall time (1.0 = one core): other work on a shared machine that makes the
    /// numbers noisy.
    var otherLoad: Double? {
        guard let busy = run.machineBusySeconds, let broker = run.brokerCPUSeconds,
              let generator = run.generatorCPUSeconds, run.wallSeconds > 0
        else { return nil }
        return max(0, busy - broker - generator) / run.wallSeconds
    }

    var p50: Double? { number("p50_us") }
    var p99: Double? { number("p99_us") }
    var lost: Double? { number("lost") }
    var duplicates: Double? { number("dup") }
    var bytesPerConnection: Double? { number("bytes_per_conn") }
}
