import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thrown when SIGINT or SIGTERM asked the benchmark to stop.
struct Interrupted: Error {}

/// A broker configuration under test.
struct BrokerSpec {
    enum Family: String { case meridian, mosquitto }

    /// Stable id, used in `--only` and in the JSON.
    let id: String
    /// Name in the tables.
    let label: String
    let family: Family
    let executable: String
    /// Mosquitto's `set_tcp_nodelay`; nil leaves the broker's own choice (Meridian sets TCP_NODELAY).
    let tcpNoDelay: Bool?

    static func meridian(_ executable: String) -> BrokerSpec {
        BrokerSpec(id: "meridian", label: "meridian", family: .meridian, executable: executable, tcpNoDelay: nil)
    }

    static func mosquitto(_ executable: String, noDelay: Bool) -> BrokerSpec {
        BrokerSpec(
            id: noDelay ? "mosquitto-nodelay-on" : "mosquitto-nodelay-off",
            label: noDelay ? "mosquitto (nodelay on)" : "mosquitto (nodelay off)",
            family: .mosquitto, executable: executable, tcpNoDelay: noDelay)
    }

    /// A configuration in Mosquitto's syntax, which Meridian reads too. Nothing in it
    /// throttles the runs: the only limit raised is the queue that would drop messages.
    /// With `store`, persistence is on and the queue has no limit.
    func configuration(port: Int, store: StoreSettings? = nil, extraLines: [String] = []) -> String {
        (configurationLines(port: "\(port)", store: store) + extraLines).joined(separator: "\n") + "\n"
    }

    /// The bridge block of the bridge scenarios (Meridian): everything the bench sends to the
    /// remote goes out at QoS 1; the other options keep their defaults (drain_max_inflight 100,
    /// no outbox limit).
    static func bridgeLines(remotePort: String) -> [String] {
        [
            "# The bench's bridge: the remote is down, or a relay in front of a Mosquitto the bench starts.",
            "connection bench",
            "address 127.0.0.1:\(remotePort)",
            "remote_clientid meridian-bench-edge",
            "topic bench/# out 1",
            "restart_timeout 1 2",
        ]
    }

    /// The configuration of the bridge scenarios on one line, for the report.
    var bridgeConfigurationSummary: String {
        (configurationLines(port: "<free port>", store: StoreSettings(location: "<fresh dir>", sync: "normal"))
            + Self.bridgeLines(remotePort: "<remote port>"))
            .filter { !$0.hasPrefix("#") }.joined(separator: "; ")
    }

    /// The configuration's directives on one line, for the report.
    var configurationSummary: String {
        configurationLines(port: "<free port>").filter { !$0.hasPrefix("#") }.joined(separator: "; ")
    }

    /// The configuration of the store scenarios on one line, for the report.
    func storeConfigurationSummary(sync: String) -> String {
        configurationLines(port: "<free port>", store: StoreSettings(location: "<fresh dir>", sync: sync))
            .filter { !$0.hasPrefix("#") }.joined(separator: "; ")
    }

    private func configurationLines(port: String, store: StoreSettings? = nil) -> [String] {
        var lines = [
            "# Written by meridian-bench.",
            "listener \(port) 127.0.0.1",
            "allow_anonymous true",
        ]
        if let store {
            lines += [
                "# Durable store; 0 = no queue limit, so no message is dropped for the offline subscriber.",
                "persistence true",
            ]
            switch family {
            case .meridian:
                lines += ["persistence_location \(store.location)", "persistence_sync \(store.sync)"]
            case .mosquitto:
                // Mosquitto wants the trailing slash; it keeps queues in RAM and writes
                // mosquitto.db every autosave_interval (1800 s by default) and at shutdown.
                lines += ["persistence_location \(store.location)/"]
            }
            lines.append("max_queued_messages 0")
        } else {
            lines += [
                "# Mosquitto drops QoS 0 deliveries to a busy subscriber beyond this many queued",
                "# packets, and QoS 1 messages beyond it in the queue (its default is 1000).",
                "max_queued_messages 1000000",
            ]
        }
        if let tcpNoDelay { lines.append("set_tcp_nodelay \(tcpNoDelay)") }
        return lines
    }

    func arguments(configPath: String) -> [String] {
        switch family {
        case .meridian: return ["--config", configPath]
        case .mosquitto: return ["-c", configPath]
        }
    }
}

/// The durable store of a broker started for a store scenario.
struct StoreSettings {
    /// `persistence_location`: a fresh directory per broker start.
    var location: String
    /// `persistence_sync` (Meridian only): `normal` or `full`.
    var sync: String
}

/// A broker process this benchmark started and owns.
final class Broker {
    let spec: BrokerSpec
    let port: Int
    let configPath: String
    let process: ChildProcess
    /// Set when the broker died during the benchmark: when and how.
    var failure: String?

    var pid: pid_t { process.pid }

    private init(spec: BrokerSpec, port: Int, configPath: String, process: ChildProcess) {
        self.spec = spec
        self.port = port
        self.configPath = configPath
        self.process = process
    }

    /// Writes the configuration (`configuration`, else the spec's), starts the broker and waits (bounded) until it accepts
    /// TCP connections on its port. `name` (default: the spec's id) names its config and log files.
    static func start(
        _ spec: BrokerSpec, port: Int, workDir: String, name: String? = nil, store: StoreSettings? = nil,
        extraLines: [String] = [], configuration: String? = nil, timeout: Double = 20
    ) throws -> Broker {
        let name = name ?? spec.id
        let configPath = "\(workDir)/\(name).conf"
        try (configuration ?? spec.configuration(port: port, store: store, extraLines: extraLines))
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            executable: spec.executable, arguments: spec.arguments(configPath: configPath),
            logPath: "\(workDir)/\(name).log")
        let broker = Broker(spec: spec, port: port, configPath: configPath, process: process)

        let deadline = monotonicSeconds() + timeout
        func fail(_ reason: String) -> BenchError {
            process.terminate()
            let output = process.logTail()
            return BenchError(
                "\(spec.label): \(spec.executable) \(reason)"
                    + (output.isEmpty ? " (no output)" : "; its last output:\n" + output))
        }
        while true {
            if Interrupts.requested {
                process.terminate()
                throw Interrupted()
            }
            if !process.isRunning { throw fail("\(process.statusDescription) before listening on 127.0.0.1:\(port)") }
            if Loopback.accepts(port: port) { break }
            if monotonicSeconds() > deadline { throw fail("was not listening on 127.0.0.1:\(port) after \(Int(timeout)) s") }
            usleep(20_000)
        }
        // A broker that lost the port to another process exits soon after; don't measure that one.
        usleep(100_000)
        if !process.isRunning { throw fail("\(process.statusDescription) right after start") }
        return broker
    }

    func stop() {
        process.terminate(grace: 10)
    }
}
