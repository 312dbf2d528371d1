import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts the brokers, runs every scenario against each of them and collects the records.
final class Bench {
    let options: Options
    let specs: [BrokerSpec]
    let scenarios: [Scenario]
    let generator: LoadGenerator
    let workDir: String
    private(set) var brokers: [Broker] = []
    private(set) var records: [RunRecord] = []

    init(options: Options, specs: [BrokerSpec], scenarios: [Scenario], generator: LoadGenerator, workDir: String) {
        self.options = options
        self.specs = specs
        self.scenarios = scenarios
        self.generator = generator
        self.workDir = workDir
    }

    /// Brokers that died during the benchmark, with what happened.
    var failures: [String] { brokers.compactMap(\.failure) + storeFailures }
    /// Store-scenario runs whose broker died or whose own part failed.
    private(set) var storeFailures: [String] = []

    /// Each broker is started and, when selected, measured idle while fresh; then the load
    /// scenarios run `reps` times, all brokers interleaved, their order rotated per repetition.
    /// The store scenarios start a fresh broker of each spec for every run instead.
    func run() throws {
        if scenarios.contains(where: { !$0.freshBroker }) {
            let ports = try Loopback.freePorts(specs.count)
            let idle = scenarios.first { $0.kind == .idle }
            for (spec, port) in zip(specs, ports) {
                try checkInterrupt()
                progress("starting \(spec.label): \(spec.executable) on 127.0.0.1:\(port)")
                let broker = try Broker.start(spec, port: port, workDir: workDir)
                brokers.append(broker)
                if let idle { try measure(idle, on: broker, rep: 1) }
            }
        }
        let loads = scenarios.filter { $0.kind != .idle }
        guard !loads.isEmpty else { return }
        for rep in 1...options.reps {
            let shift = (rep - 1) % specs.count
            let specOrder = Array(specs[shift...] + specs[..<shift])
            for scenario in loads {
                if scenario.freshBroker {
                    for spec in specOrder where scenario.runs(on: spec) {
                        try measureStore(scenario, spec: spec, rep: rep)
                    }
                    continue
                }
                for spec in specOrder {
                    guard let broker = brokers.first(where: { $0.spec.id == spec.id }), broker.failure == nil else { continue }
                    try measure(scenario, on: broker, rep: rep)
                }
            }
        }
    }

    /// Stops every broker this benchmark started.
    func stopBrokers() {
        for broker in brokers { broker.stop() }
    }

    private func checkInterrupt() throws {
        if Interrupts.requested { throw Interrupted() }
    }

    private func measure(_ scenario: Scenario, on broker: Broker, rep: Int) throws {
        try checkInterrupt()
        let logPath = "\(workDir)/\(scenario.name).\(broker.spec.id).\(rep).out"
        let run = try generator.run(scenario, against: broker, mqttVersion: options.mqttVersion, logPath: logPath)
        // A run cut short by the signal measures nothing; drop it.
        try checkInterrupt()

        var record = RunRecord(scenario: scenario, broker: broker.spec, rep: rep, run: run)
        if !broker.process.isRunning {
            let output = broker.process.logTail()
            broker.failure = "\(broker.spec.label): \(broker.spec.executable) \(broker.process.statusDescription) "
                + "during \(scenario.name) (repetition \(rep)); its remaining runs were skipped"
                + (output.isEmpty ? "" : "; its last output:\n" + output)
            record.brokerDied = true
        }
        records.append(record)
        progress(describe(record))
        if record.run.result.isEmpty {
            progress("  mqttload \(run.statusDescription) without a RESULT line; its last output:\n" + run.outputTail)
        }
        // Let the broker finish closing the run's connections before the next run.
        sleepSeconds(options.quick ? 0.2 : 0.5)
    }

    /// A store- or bridge-scenario run on a broker of its own.
    private func measureStore(_ scenario: Scenario, spec: BrokerSpec, rep: Int) throws {
        try checkInterrupt()
        let record = scenario.cluster != nil
            ? try ClusterRun(
                scenario: scenario, spec: spec, rep: rep, options: options, generator: generator, workDir: workDir
            ).run()
            : scenario.bridge != nil
            ? try BridgeRun(
                scenario: scenario, spec: spec, rep: rep, options: options, generator: generator, workDir: workDir
            ).run()
            : try StoreRun(
                scenario: scenario, spec: spec, rep: rep, options: options, generator: generator, workDir: workDir
            ).run()
        records.append(record)
        progress(describe(record))
        if record.brokerDied {
            storeFailures.append(
                "\(spec.label): \(spec.executable) died during \(scenario.name) (repetition \(rep)); "
                    + "see \(workDir)/\(scenario.name).\(spec.id).\(rep).log")
        } else if record.run.result.isEmpty && record.failure == nil {
            progress("  mqttload \(record.run.statusDescription) without a RESULT line; its last output:\n" + record.run.outputTail)
        }
        sleepSeconds(options.quick ? 0.2 : 0.5)
    }

    private func describe(_ record: RunRecord) -> String {
        let reps = record.scenario.kind == .idle ? "" : "[\(record.rep)/\(options.reps)] "
        var line = "\(reps)\(record.scenario.name.padding(8)) \(record.broker.label.padding(24)) "
        switch record.scenario.kind {
        case .durable:
            line += "\(format(record.throughput, decimals: 0)) msg/s acknowledged, "
                + "\(format(record.cpuMicrosPerMessage, decimals: 2)) CPU-µs/msg, "
                + "\(format(record.writeBytesPerMessage, decimals: 0)) B written/msg, "
                + "delivered on reconnect \(format(record.number("delivered"), decimals: 0))/\(format(record.number("acked"), decimals: 0)), "
                + "other load \(format(record.otherLoad.map { $0 * 100 }, decimals: 0))%"
        case .writeAmplification:
            line += "write amplification \(format(record.writeAmplification, decimals: 2)) "
                + "(\(format(record.number("write_bytes"), decimals: 0)) B for \(format(record.number("messages"), decimals: 0)) msgs), "
                + "\(format(record.throughput, decimals: 0)) msg/s acknowledged, \(format(record.cpuMicrosPerMessage, decimals: 2)) CPU-µs/msg, "
                + "store \(format(record.storeBytes.map { $0 / 1e6 }, decimals: 1)) MB, "
                + "other load \(format(record.otherLoad.map { $0 * 100 }, decimals: 0))%"
        case .bridgeAppend:
            line += "\(format(record.throughput, decimals: 0)) msg/s acknowledged, "
                + "\(format(record.cpuMicrosPerMessage, decimals: 2)) CPU-µs/msg, "
                + "\(format(record.perMessage("store_growth"), decimals: 0)) B on disk/msg "
                + "(db + WAL \(format(record.storeBytes.map { $0 / 1e6 }, decimals: 1)) MB), "
                + "\(format(record.writeBytesPerMessage, decimals: 0)) B written/msg, "
                + "other load \(format(record.otherLoad.map { $0 * 100 }, decimals: 0))%"
        case .bridgeDrain:
            line += "drain \(format(record.throughput, decimals: 0)) msg/s, "
                + "CONNACK->1st \(format(record.number("connack_to_first_ms"), decimals: 2)) ms, "
                + "CONNACK->empty \(format(record.number("connack_to_empty_s"), decimals: 2)) s, "
                + "edge \(format(record.cpuMicrosPerMessage, decimals: 2)) CPU-µs/msg, "
                + "remote \(format(record.perMessage("remote_cpu_s", scale: 1e6), decimals: 2)) CPU-µs/msg, "
                + "delivered \(format(record.number("delivered"), decimals: 0))/\(format(record.number("messages"), decimals: 0)), "
                + "dup \(format(record.number("dup"), decimals: 0)), "
                + "backlog appended at \(format(record.number("append_rate"), decimals: 0)) msg/s, "
                + "other load \(format(record.otherLoad.map { $0 * 100 }, decimals: 0))%"
        case .failover:
            line += "all \(format(record.number("failover_connected"), decimals: 0))/\(record.run.result["clients"] ?? "?") clients on node B "
                + "\(format(record.number("failover_all_s"), decimals: 2)) s after kill -9 of node A "
                + "(first \(format(record.number("failover_first_s"), decimals: 2)) s, membership_ttl \(format(record.number("membership_ttl_s"), decimals: 0)) s)"
        case .idle:
            line += "\(record.run.result["established"] ?? "?")/\(record.run.result["attempted"] ?? "?") connections, "
                + "\(format(record.bytesPerConnection, decimals: 0)) B/connection"
        case .throughput, .latency:
            line += "\(format(record.throughput, decimals: 0)) msg/s, \(format(record.cpuMicrosPerMessage, decimals: 2)) CPU-µs/msg, "
            if record.scenario.kind == .latency {
                line += "p50 \(format(record.p50, decimals: 0)) µs, p99 \(format(record.p99, decimals: 0)) µs, "
            }
            line += "lost \(format(record.lost, decimals: 0)), dup \(format(record.duplicates, decimals: 0)), "
                + "other load \(format(record.otherLoad.map { $0 * 100 }, decimals: 0))%"
        }
        return line + ", " + record.status + (record.failure.map { ": " + $0 } ?? "")
    }
}

/// A progress line on stderr; the results go to stdout. Write errors (a closed pipe) are
/// ignored: the benchmark must still reach the point where it stops its brokers.
func progress(_ line: String) {
    fputs(line + "\n", stderr)
}
