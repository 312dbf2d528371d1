/// One load the benchmark runs against every broker, as `mqttload` arguments.
struct Scenario {
    enum Kind {
        /// Idle connections on a freshly started broker: bytes per connection.
        case idle
        /// As fast as possible: throughput and CPU per message.
        case throughput
        /// At a fixed publish rate: p50/p99 latency.
        case latency
    }

    let name: String
    let kind: Kind
    let title: String
    /// Load-generator arguments, without host, port, broker pid, time limit and MQTT version.
    let arguments: [String]
    /// `mqttload -T`: the run ends by itself after this many seconds.
    let timeLimit: Double
    /// Connections the scenario opens at once.
    var connections = 0

    static let names = ["idle", "q0-1to1", "q0-8to1", "q0-1to8", "q1-1to1", "q1-8to1", "lat-q0", "lat-q1"]

    /// The scenarios in run order. Full counts give runs of a few seconds against
    /// Mosquitto on a 2-core machine; `quick` counts are a smoke run.
    static func all(quick: Bool) -> [Scenario] {
        func pick(_ full: Int, _ smoke: Int) -> Int { quick ? smoke : full }
        let limit: Double = quick ? 30 : 60
        let drain = ["-D", quick ? "3" : "5"]

        func pubsub(_ name: String, _ kind: Kind, qos: Int, pubs: Int, subs: Int, perPublisher: Int,
                    rate: Int = 0) -> Scenario {
            var args = ["-P", "\(pubs)", "-S", "\(subs)", "-n", "\(perPublisher)", "-s", "64", "-q", "\(qos)"]
            if qos > 0 { args += ["-w", "20"] }
            if rate > 0 { args += ["-r", "\(rate)"] }
            var title = "QoS \(qos), \(pubs) publisher\(pubs == 1 ? "" : "s") -> \(subs) subscriber\(subs == 1 ? "" : "s"), "
                + "\(grouped(pubs * perPublisher)) x 64 B"
            if subs > 1 { title += " (\(grouped(pubs * perPublisher * subs)) deliveries)" }
            if qos > 0 { title += ", 20 in flight per publisher" }
            title += rate > 0 ? ", at \(grouped(rate)) msg/s" : ", as fast as possible"
            return Scenario(
                name: name, kind: kind, title: title, arguments: args + drain, timeLimit: limit, connections: pubs + subs)
        }

        let connections = pick(10_000, 1_000)
        return [
            Scenario(
                name: "idle", kind: .idle,
                title: "\(grouped(connections)) idle connections (MQTT CONNECT, no subscription) on a freshly started broker",
                arguments: ["-m", "idle", "-c", "\(connections)", "-H", quick ? "1" : "5"],
                timeLimit: quick ? 60 : 120, connections: connections),
            pubsub("q0-1to1", .throughput, qos: 0, pubs: 1, subs: 1, perPublisher: pick(500_000, 50_000)),
            pubsub("q0-8to1", .throughput, qos: 0, pubs: 8, subs: 1, perPublisher: pick(62_500, 6_250)),
            pubsub("q0-1to8", .throughput, qos: 0, pubs: 1, subs: 8, perPublisher: pick(62_500, 6_250)),
            pubsub("q1-1to1", .throughput, qos: 1, pubs: 1, subs: 1, perPublisher: pick(150_000, 20_000)),
            pubsub("q1-8to1", .throughput, qos: 1, pubs: 8, subs: 1, perPublisher: pick(18_750, 2_500)),
            pubsub("lat-q0", .latency, qos: 0, pubs: 1, subs: 1, perPublisher: pick(30_000, 5_000), rate: 10_000),
            pubsub("lat-q1", .latency, qos: 1, pubs: 1, subs: 1, perPublisher: pick(15_000, 2_500), rate: 5_000),
        ]
    }
}

/// `1234567` -> `"1,234,567"`.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return value < 0 ? "-" + out : out
}
