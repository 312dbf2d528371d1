import Foundation

/// The medians of one broker's runs of one scenario.
struct Cell {
    let broker: BrokerSpec
    let records: [RunRecord]

    /// Runs whose broker survived them; a run cut short by a dying broker measures nothing.
    private var measured: [RunRecord] { records.filter { !$0.brokerDied } }

    var throughput: Double? { median(measured.compactMap(\.throughput)) }
    var cpuMicrosPerMessage: Double? { median(measured.compactMap(\.cpuMicrosPerMessage)) }
    var brokerCores: Double? { median(measured.compactMap(\.brokerCores)) }
    var otherLoad: Double? { median(measured.compactMap(\.otherLoad)) }
    var p50: Double? { median(measured.compactMap(\.p50)) }
    var p99: Double? { median(measured.compactMap(\.p99)) }
    var bytesPerConnection: Double? { median(measured.compactMap(\.bytesPerConnection)) }
    var writeBytesPerMessage: Double? { median(measured.compactMap(\.writeBytesPerMessage)) }
    var writeAmplification: Double? { median(measured.compactMap(\.writeAmplification)) }
    var writeBytes: Double? { median(measured.compactMap { $0.number("write_bytes") }) }
    var storeBytes: Double? { median(measured.compactMap(\.storeBytes)) }
    /// The median of a measure, or of a measure per message.
    func measure(_ key: String) -> Double? { median(measured.compactMap { $0.number(key) }) }
    func perMessage(_ key: String, scale: Double = 1) -> Double? {
        median(measured.compactMap { $0.perMessage(key, scale: scale) })
    }
    /// Store scenarios: distinct messages the subscriber got, and acknowledged publishes, over all runs.
    var deliveredOfAcknowledged: String {
        let delivered = sum(records.compactMap { $0.number("delivered") })
        let acked = sum(records.compactMap {
            $0.scenario.kind == .writeAmplification || $0.scenario.kind == .bridgeDrain ? $0.number("messages") : $0.number("acked")
        })
        return "\(format(delivered, decimals: 0))/\(format(acked, decimals: 0))"
    }
    /// Totals over all runs.
    var lost: Double? { sum(records.compactMap(\.lost)) }
    var duplicates: Double? { sum(records.compactMap(\.duplicates)) }

    /// `3/3 ok`, or the statuses that were not ok.
    var runs: String {
        let ok = records.filter(\.isOK).count
        let others = records.filter { !$0.isOK }.map(\.status)
        return "\(ok)/\(records.count) ok" + (others.isEmpty ? "" : " (\(others.joined(separator: ", ")))")
    }

    private func sum(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) }
}

func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// The result tables: per scenario, one row per broker and one row per meridian/mosquitto ratio.
enum Report {
    static func cells(_ scenario: Scenario, _ specs: [BrokerSpec], _ records: [RunRecord]) -> [Cell] {
        specs.map { spec in
            Cell(broker: spec, records: records.filter { $0.scenario.name == scenario.name && $0.broker.id == spec.id })
        }
    }

    static func render(scenarios: [Scenario], specs: [BrokerSpec], records: [RunRecord]) -> String {
        var out = ""
        for scenario in scenarios {
            let cells = cells(scenario, specs, records).filter { !$0.records.isEmpty }
            guard !cells.isEmpty else { continue }
            let most = cells.map(\.records.count).max() ?? 0
            let runs = scenario.kind == .idle ? "1 run per broker" : "median of \(most) run\(most == 1 ? "" : "s")"
            out += "\(scenario.name): \(scenario.title) (\(runs))\n"
            out += table(scenario, cells).render(indent: "  ")
            if let note = scenario.note { out += "  note: \(note)\n" }
            out += "\n"
        }
        out += """
            msg/s: messages delivered per second, all subscribers together. CPU-µs/msg: broker CPU time \
            (all threads) per delivered message. broker CPU: 100% = one core busy. other load: CPU used by \
            everything else on the machine (other processes, kernel threads) during the runs (100% = one core); when it is high, msg/s and \
            latency are noisy and CPU-µs/msg is the steadier figure. lost, dup: totals over the runs. \
            Ratios are meridian / mosquitto of the medians: above 1 is better for msg/s, below 1 is better \
            for CPU-µs/msg, latency and bytes/connection.

            """
        if scenarios.contains(where: { $0.store != nil }) {
            out += """
                durable-* and wa-*: every run starts its own broker with persistence on in a fresh directory; \
                msg/s and CPU-µs/msg count acknowledged publishes (one publisher, no mqttload subscriber).

                """
        }
        if scenarios.contains(where: { $0.bridge != nil }) {
            out += """
                bridge-*: Meridian only; every run starts its own edge with persistence on (persistence_sync \
                normal) in a fresh directory and one bridge (topic bench/# out 1, drain_max_inflight 100); \
                bridge-drain also starts a remote Mosquitto. CPU-µs/msg: the edge's CPU per message.

                """
        }
        return out
    }

    /// A median column; `ratio` adds it to the meridian/mosquitto rows.
    private struct Column {
        var header: String
        var decimals = 0
        var unit = ""
        var ratio = true
        var value: (Cell) -> Double?
    }

    private static func table(_ scenario: Scenario, _ cells: [Cell]) -> Table {
        let kind = scenario.kind
        let percent = { (value: Double?) in value.map { $0 * 100 } }
        var columns: [Column]
        var extras: [(header: String, text: (Cell) -> String)]
        switch kind {
        case .idle:
            columns = [Column(header: "bytes/connection", value: \.bytesPerConnection)]
            let result = { (cell: Cell) in cell.records.first?.run.result ?? [:] }
            extras = [
                ("connections", { "\(result($0)["established"] ?? "-")/\(result($0)["attempted"] ?? "-")" }),
                ("alive", { result($0)["alive"] ?? "-" }),
                ("RSS before -> after", { "\(result($0)["rss_before_kb"] ?? "-") -> \(result($0)["rss_after_kb"] ?? "-") kB" }),
                ("status", { $0.runs }),
            ]
        case .durable:
            columns = [
                Column(header: "msg/s", value: \.throughput),
                Column(header: "CPU-µs/msg", decimals: 2, value: \.cpuMicrosPerMessage),
                Column(header: "broker CPU", unit: "%", ratio: false) { percent($0.brokerCores) },
                Column(header: "other load", unit: "%", ratio: false) { percent($0.otherLoad) },
                Column(header: "write B/msg", ratio: false, value: \.writeBytesPerMessage),
            ]
            extras = [
                ("delivered", { $0.deliveredOfAcknowledged }),
                ("lost", { format($0.lost, decimals: 0) }),
                ("dup", { format($0.duplicates, decimals: 0) }),
                ("runs", { $0.runs }),
            ]
        case .writeAmplification:
            columns = [
                Column(header: "msg/s", value: \.throughput),
                Column(header: "CPU-µs/msg", decimals: 2, value: \.cpuMicrosPerMessage),
                Column(header: "broker CPU", unit: "%", ratio: false) { percent($0.brokerCores) },
                Column(header: "written MB", decimals: 1, ratio: false) { $0.writeBytes.map { $0 / 1e6 } },
                Column(header: "write B/msg", ratio: false, value: \.writeBytesPerMessage),
                Column(header: "write amp.", decimals: 2, ratio: false, value: \.writeAmplification),
                Column(header: "store MB", decimals: 1, ratio: false) { $0.storeBytes.map { $0 / 1e6 } },
            ]
            let megabytes = { (value: Double?) in format(value.map { $0 / 1e6 }, decimals: 1) }
            extras = [
                ("db + WAL (last run)", { cell in
                    let last = cell.records.last
                    return "\(megabytes(last?.number("db_bytes"))) + \(megabytes(last?.number("wal_bytes"))) MB"
                }),
                ("delivered", { $0.deliveredOfAcknowledged }),
                ("lost", { format($0.lost, decimals: 0) }),
                ("dup", { format($0.duplicates, decimals: 0) }),
                ("runs", { $0.runs }),
            ]
        case .bridgeAppend:
            columns = [
                Column(header: "msg/s", value: \.throughput),
                Column(header: "CPU-µs/msg", decimals: 2, value: \.cpuMicrosPerMessage),
                Column(header: "broker CPU", unit: "%", ratio: false) { percent($0.brokerCores) },
                Column(header: "other load", unit: "%", ratio: false) { percent($0.otherLoad) },
                Column(header: "disk B/msg", ratio: false) { $0.perMessage("store_growth") },
                Column(header: "db B/msg", ratio: false) { $0.perMessage("db_growth") },
                Column(header: "write B/msg", ratio: false, value: \.writeBytesPerMessage),
            ]
            let megabytes = { (value: Double?) in format(value.map { $0 / 1e6 }, decimals: 1) }
            extras = [
                ("db + WAL (last run)", { cell in
                    let last = cell.records.last
                    return "\(megabytes(last?.number("db_bytes"))) + \(megabytes(last?.number("wal_bytes"))) MB"
                }),
                ("acked", { cell in format(cell.records.compactMap { $0.number("acked") }.reduce(0, +), decimals: 0) }),
                ("runs", { $0.runs }),
            ]
        case .bridgeDrain:
            columns = [
                Column(header: "drain msg/s", value: \.throughput),
                Column(header: "CONNACK->1st ms", decimals: 2, ratio: false) { $0.measure("connack_to_first_ms") },
                Column(header: "CONNACK->empty s", decimals: 2, ratio: false) { $0.measure("connack_to_empty_s") },
                Column(header: "edge CPU-µs/msg", decimals: 2, value: \.cpuMicrosPerMessage),
                Column(header: "edge CPU", unit: "%", ratio: false) { percent($0.brokerCores) },
                Column(header: "remote CPU-µs/msg", decimals: 2, ratio: false) { $0.perMessage("remote_cpu_s", scale: 1e6) },
                Column(header: "bench CPU-µs/msg", decimals: 2, ratio: false) { $0.perMessage("bench_cpu_s", scale: 1e6) },
                Column(header: "other load", unit: "%", ratio: false) { percent($0.otherLoad) },
                Column(header: "append msg/s", ratio: false) { $0.measure("append_rate") },
                Column(header: "reconnect wait s", decimals: 2, ratio: false) { $0.measure("reconnect_wait_s") },
            ]
            extras = [
                ("delivered", { $0.deliveredOfAcknowledged }),
                ("dup", { format($0.duplicates, decimals: 0) }),
                ("runs", { $0.runs }),
            ]
        case .failover:
            columns = [
                Column(header: "all on B s", decimals: 2, ratio: false) { $0.measure("failover_all_s") },
                Column(header: "first s", decimals: 2, ratio: false) { $0.measure("failover_first_s") },
                Column(header: "p50 s", decimals: 2, ratio: false) { $0.measure("failover_p50_s") },
                Column(header: "TTL s", ratio: false) { $0.measure("membership_ttl_s") },
            ]
            extras = [
                ("connected", { cell in cell.records.map { format($0.number("failover_connected"), decimals: 0) }.joined(separator: ",") }),
                ("runs", { $0.runs }),
            ]
        case .throughput, .latency:
            columns = [Column(header: "msg/s", value: \.throughput)]
            if kind == .latency {
                columns += [Column(header: "p50 µs", value: \.p50), Column(header: "p99 µs", value: \.p99)]
            }
            if scenario.cluster?.crossNode == true {
                columns.append(Column(header: "route ms", decimals: 1, ratio: false) { $0.measure("route_convergence_ms") })
            }
            columns += [
                Column(header: "CPU-µs/msg", decimals: 2, value: \.cpuMicrosPerMessage),
                Column(header: "broker CPU", unit: "%", ratio: false) { percent($0.brokerCores) },
                Column(header: "other load", unit: "%", ratio: false) { percent($0.otherLoad) },
            ]
            extras = [
                ("lost", { format($0.lost, decimals: 0) }),
                ("dup", { format($0.duplicates, decimals: 0) }),
                ("runs", { $0.runs }),
            ]
        }

        var table = Table(headers: ["broker"] + columns.map(\.header) + extras.map(\.header))
        for cell in cells {
            table.rows.append(
                [cell.broker.label]
                    + columns.map { column in
                        column.value(cell).map { format($0, decimals: column.decimals) + column.unit } ?? "-"
                    }
                    + extras.map { $0.text(cell) })
        }
        if let meridian = cells.first(where: { $0.broker.family == .meridian }) {
            for other in cells where other.broker.family == .mosquitto {
                table.rows.append(
                    ["meridian / \(other.broker.label)"]
                        + columns.map { column in
                            guard column.ratio, let a = column.value(meridian), let b = column.value(other), b > 0
                            else { return "" }
                            return String(format: "%.2fx", a / b)
                        }
                        + extras.map { _ in "" })
            }
        }
        return table
    }
}

/// A plain text table: first column left-aligned, the others right-aligned.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    func render(indent: String) -> String {
        let all = [headers] + rows
        let widths = headers.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            indent + row.enumerated().map { i, text in
                i == 0 ? text.padding(widths[i]) : String(repeating: " ", count: widths[i] - text.count) + text
            }.joined(separator: "  ").trailingSpacesRemoved()
        }.joined(separator: "\n") + "\n"
    }
}

/// A number with thousands separators, or `-` for nil.
func format(_ value: Double?, decimals: Int) -> String {
    guard let value, value.isFinite else { return "-" }
    if decimals == 0 { return grouped(Int(value.rounded())) }
    return String(format: "%.\(decimals)f", value)
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    func trailingSpacesRemoved() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
