import Foundation

/// Command-line options of `meridian-bench`.
struct Options {
    var reps = 3
    var quick = false
    /// Broker selectors from `--only`; empty = all.
    var only: [String] = []
    var scenarios: [String] = Scenario.defaultNames
    /// `--backlog N`: messages queued before bridge-drain; nil = the default (20,000 with --quick).
    var backlog: Int?
    /// `--meridian PATH`; nil = `<package root>/.build/release/meridian-edge`.
    var meridianPath: String?
    var mosquittoPath = "mosquitto"
    var mqttVersion = 4
    var jsonPath: String?
    var keepWorkDir = false

    static let brokerSelectors = ["meridian", "mosquitto", "mosquitto-nodelay-off", "mosquitto-nodelay-on"]

    static let usage = """
        usage: meridian-bench [options]

        Starts meridian-edge and Mosquitto (twice: set_tcp_nodelay false, its default, and true)
        on free loopback ports, drives them with the neutral load generator mqttload, runs
        the brokers interleaved in every repetition, and prints per scenario the median over
        repetitions of throughput, broker CPU-µs per delivered message, latency, losses,
        the meridian/mosquitto ratios, and bytes per idle connection.

        options:
          --reps N           repetitions of each load scenario (default 3; 1 with --quick)
          --quick            smoke run: 1 repetition, small message counts, 1,000 idle connections
          --only LIST        brokers, comma-separated: meridian, mosquitto (both configurations),
                             mosquitto-nodelay-off, mosquitto-nodelay-on
          --scenarios LIST   comma-separated subset of (default: all but bridge-drain):
                             \(Scenario.names.joined(separator: ","))
                             durable-normal, durable-full: QoS 1 to an offline persistent subscriber
                             with persistence on (Meridian persistence_sync normal / full);
                             wa-64, wa-4k: Meridian's write amplification (64 B / 4 KB payloads);
                             bridge-append-64, bridge-append-4k (-w100: 100 in flight instead of
                             20): QoS 1 into a bridge's outbox while its remote is down (Meridian);
                             bridge-drain: a backlog queued while the remote is down, then drained
                             into a remote Mosquitto the bench starts (Meridian; not in the default
                             set: about a minute per run with the default backlog)
                             node-q0, node-q1, node-lat-q1 / cross-q0, cross-q1, cross-lat-q1: a fresh
                             region cluster per run (a one-member etcd and two meridian-region nodes
                             beside the meridian-edge binary), publisher on node A and subscriber on A
                             (node-*) or on B (cross-*); Mosquitto runs the same load alone (not in
                             the default set; needs etcd, apt etcd-server)
                             failover: 100 clients on node A, A killed with kill -9, the time until
                             all are connected to node B (Meridian; not in the default set)
          --backlog N        messages queued before bridge-drain (default \(grouped(Scenario.defaultBacklog));
                             20,000 with --quick)
          --meridian PATH    meridian-edge binary (default: .build/release/meridian-edge in the
                             package root); if the default is missing, only Mosquitto runs
          --mosquitto PATH   mosquitto binary (default: mosquitto on PATH)
          --mqtt 4|5         protocol of the load generator: 4 = MQTT 3.1.1 (default), 5 = MQTT 5.0
          --json FILE        write every run's RESULT line, the settings and the medians as JSON
          --keep             keep the work directory (broker configs and logs, mqttload output)
          -h, --help         this text

        environment:
          MQTTLOAD           a built mqttload binary to use
          MQTTLOAD_SRC       mqttload.c to compile with cc (default: ../shared/tools/mqttload.c
                             next to the package root)

        The idle scenario runs once per broker, first, on the freshly started broker; the
        others run --reps times, broker order rotated each repetition. The durable-*, wa-* and
        bridge-* scenarios start a broker of their own for every run, with its store in a fresh
        directory (wa-* and bridge-* run Meridian only; bridge-drain also starts a remote
        Mosquitto per run). Every mqttload run is bounded by its -T.
        Exit status: 0 every run ok; 1 setup error; 2 some run failed
        (lost QoS 1 messages, time limit, broker died); 130 interrupted.
        """

    /// Parses `arguments` (without the program name). Returns nil for `--help`.
    static func parse(_ arguments: [String]) throws -> Options? {
        var options = Options()
        var repsGiven = false
        var rest = arguments[...]

        while let argument = rest.popFirst() {
            var name = argument
            var inlineValue: String?
            if argument.hasPrefix("--"), let eq = argument.firstIndex(of: "=") {
                name = String(argument[..<eq])
                inlineValue = String(argument[argument.index(after: eq)...])
            }
            func value() throws -> String {
                if let inlineValue { return inlineValue }
                guard let next = rest.popFirst() else { throw BenchError("\(name) needs a value\n\n\(usage)") }
                return next
            }
            func list() throws -> [String] {
                try value().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }

            switch name {
            case "-h", "--help":
                return nil
            case "--reps":
                let text = try value()
                guard let reps = Int(text), reps >= 1 else { throw BenchError("--reps needs a positive number, not \(text)") }
                options.reps = reps
                repsGiven = true
            case "--quick":
                options.quick = true
            case "--only":
                options.only = try list()
                for selector in options.only where !brokerSelectors.contains(selector) {
                    throw BenchError("--only: unknown broker \(selector); one of \(brokerSelectors.joined(separator: ", "))")
                }
            case "--scenarios":
                let chosen = try list()
                for scenario in chosen where !Scenario.names.contains(scenario) {
                    throw BenchError("--scenarios: unknown scenario \(scenario); one of \(Scenario.names.joined(separator: ", "))")
                }
                guard !chosen.isEmpty else { throw BenchError("--scenarios needs at least one scenario") }
                // Run order stays the catalog's: idle first.
                options.scenarios = Scenario.names.filter(chosen.contains)
            case "--backlog":
                let text = try value()
                guard let backlog = Int(text.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "_", with: "")),
                      backlog >= 1, backlog <= 0x7fff_ffff
                else { throw BenchError("--backlog needs a positive number of messages, not \(text)") }
                options.backlog = backlog
            case "--meridian":
                options.meridianPath = try value()
            case "--mosquitto":
                options.mosquittoPath = try value()
            case "--mqtt":
                let text = try value()
                guard text == "4" || text == "5" else { throw BenchError("--mqtt is 4 (MQTT 3.1.1) or 5 (MQTT 5.0), not \(text)") }
                options.mqttVersion = Int(text)!
            case "--json":
                options.jsonPath = try value()
            case "--keep":
                options.keepWorkDir = true
            default:
                throw BenchError("unknown option \(argument)\n\n\(usage)")
            }
        }
        if options.quick && !repsGiven { options.reps = 1 }
        return options
    }

    /// Messages queued before bridge-drain.
    var effectiveBacklog: Int { backlog ?? (quick ? 20_000 : Scenario.defaultBacklog) }

    func selects(_ spec: BrokerSpec) -> Bool {
        only.isEmpty || only.contains(spec.id) || only.contains(spec.family.rawValue)
    }
}
