import Foundation

/// The medians of one broker's runs of one scenario.
struct Cell {
    let broker: BrokerSpec
    let records: [RunRecord]

    var throughput: Double? { median(records.compactMap(\.throughput)) }
    var cpuMicrosPerMessage: Double? { median(records.compactMap(\.cpuMicrosPerMessage)) }
    var brokerCores: Double? { median(records.compactMap(\.brokerCores)) }
    var p50: Double? { median(records.compactMap(\.p50)) }
    var p99: Double? { median(records.compactMap(\.p99)) }
    var bytesPerConnection: Double? { median(records.compactMap(\.bytesPerConnection)) }
    /// Totals over the repetitions.
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

    static func render(scenarios: [Scenario], specs: [BrokerSpec], records: [RunRecord], reps: Int) -> String {
        var out = ""
        for scenario in scenarios {
            let cells = cells(scenario, specs, records).filter { !$0.records.isEmpty }
            guard !cells.isEmpty else { continue }
            let runs = scenario.kind == .idle ? "1 run per broker" : "median of \(reps)"
            out += "\(scenario.name): \(scenario.title) (\(runs))\n"
            out += table(scenario.kind, cells).render(indent: "  ") + "\n"
        }
        out += """
            msg/s: messages delivered per second, all subscribers together; CPU-µs/msg: broker CPU time \
            (all threads) per delivered message; broker CPU: 100% = one core busy; lost and dup: totals over \
            the runs. Ratios are meridian / mosquitto of the medians: above 1 is better for msg/s, below 1 \
            is better for CPU-µs/msg, latency and bytes/connection.

            """
        return out
    }

    private static func table(_ kind: Scenario.Kind, _ cells: [Cell]) -> Table {
        typealias Column = (header: String, value: (Cell) -> Double?, decimals: Int, isRatio: Bool)
        var columns: [Column]
        var extras: [(header: String, text: (Cell) -> String)]
        switch kind {
        case .idle:
            columns = [("bytes/connection", \.bytesPerConnection, 0, true)]
            extras = [
                ("connections", { "\($0.records.first?.run.result["established"] ?? "-")/\($0.records.first?.run.result["attempted"] ?? "-")" }),
                ("alive", { $0.records.first?.run.result["alive"] ?? "-" }),
                ("RSS before -> after", { cell in
                    let r = cell.records.first?.run.result ?? [:]
                    return "\(r["rss_before_kb"] ?? "-") -> \(r["rss_after_kb"] ?? "-") kB"
                }),
                ("status", { $0.runs }),
            ]
        case .throughput, .latency:
            columns = [("msg/s", \.throughput, 0, true)]
            if kind == .latency {
                columns += [("p50 µs", \.p50, 0, true), ("p99 µs", \.p99, 0, true)]
            }
            columns += [("CPU-µs/msg", \.cpuMicrosPerMessage, 2, true), ("broker CPU", { $0.brokerCores.map { $0 * 100 } }, 0, false)]
            extras = [
                ("lost", { format($0.lost, decimals: 0) }),
                ("dup", { format($0.duplicates, decimals: 0) }),
                ("runs", { $0.runs }),
            ]
        }

        var table = Table(headers: ["broker"] + columns.map(\.header) + extras.map(\.header))
        for cell in cells {
            let suffix = { (column: Column) in column.header == "broker CPU" ? "%" : "" }
            table.rows.append(
                [cell.broker.label]
                    + columns.map { format($0.value(cell), decimals: $0.decimals) + suffix($0) }
                    + extras.map { $0.text(cell) })
        }
        if let meridian = cells.first(where: { $0.broker.family == .meridian }) {
            for other in cells where other.broker.family == .mosquitto {
                table.rows.append(
                    ["meridian / \(other.broker.label)"]
                        + columns.map { column in
                            guard column.isRatio, let a = column.value(meridian), let b = column.value(other), b > 0 else { return "" }
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
