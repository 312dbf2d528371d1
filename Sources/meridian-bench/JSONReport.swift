import Foundation

/// Everything a run produced, for `--json FILE`: settings, every mqttload RESULT, the medians.
struct JSONReport: Encodable {
    struct Machine: Encodable {
        var host: String
        var cpus: Int
        var cpuModel: String?
        var openFileLimit: UInt64
        /// 1-minute load averages when the benchmark started and ended.
        var loadAverageAtStart: Double?
        var loadAverageAtEnd: Double?
    }

    struct Broker: Encodable {
        var id: String
        var label: String
        var executable: String
        var version: String?
        var port: Int?
        var pid: Int32?
        var config: String?
        var failure: String?
    }

    struct Run: Encodable {
        var scenario: String
        var broker: String
        var rep: Int
        var status: String
        var mqttloadArguments: [String]
        var mqttloadExit: String
        var wallSeconds: Double
        /// Broker CPU seconds from /proc around the whole mqttload run.
        var procBrokerCPUSeconds: Double?
        var generatorCPUSeconds: Double?
        var machineBusySeconds: Double?
        var cpuMicrosPerMessage: Double?
        var otherLoad: Double?
        /// mqttload's RESULT line; numbers as numbers.
        var result: [String: Scalar]
        /// Store scenarios: the bench's own figures (write_bytes, the subscriber's counts, store size).
        var measures: [String: Double]?
        var failure: String?
    }

    struct Median: Encodable {
        var scenario: String
        var broker: String
        var runs: Int
        var ok: Int
        var throughput: Double?
        var cpuMicrosPerMessage: Double?
        var brokerCores: Double?
        var otherLoad: Double?
        var p50Micros: Double?
        var p99Micros: Double?
        var lost: Double?
        var duplicates: Double?
        var bytesPerConnection: Double?
        var writeBytesPerMessage: Double?
        var writeAmplification: Double?
        var storeBytes: Double?
    }

    enum Scalar: Encodable {
        case number(Double)
        case string(String)

        init(_ text: String) {
            if let number = Double(text), number.isFinite { self = .number(number) } else { self = .string(text) }
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .number(let number): try container.encode(number)
            case .string(let text): try container.encode(text)
            }
        }
    }

    var tool = "meridian-bench"
    var started: String
    var machine: Machine
    var reps: Int
    var quick: Bool
    var mqttVersion: Int
    var loadGenerator: String
    var notes: [String]
    var brokers: [Broker]
    var runs: [Run]
    var medians: [Median]

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }
}

extension JSONReport.Run {
    init(_ record: RunRecord) {
        self.init(
            scenario: record.scenario.name, broker: record.broker.id, rep: record.rep, status: record.status,
            mqttloadArguments: record.run.arguments, mqttloadExit: record.run.statusDescription,
            wallSeconds: rounded(record.run.wallSeconds), procBrokerCPUSeconds: rounded(record.run.brokerCPUSeconds),
            generatorCPUSeconds: rounded(record.run.generatorCPUSeconds),
            machineBusySeconds: rounded(record.run.machineBusySeconds),
            cpuMicrosPerMessage: rounded(record.cpuMicrosPerMessage), otherLoad: rounded(record.otherLoad),
            result: record.run.result.mapValues(JSONReport.Scalar.init),
            measures: record.measures.isEmpty ? nil : record.measures.mapValues(rounded), failure: record.failure)
    }
}

extension JSONReport.Median {
    init(scenario: Scenario, cell: Cell) {
        self.init(
            scenario: scenario.name, broker: cell.broker.id, runs: cell.records.count,
            ok: cell.records.filter(\.isOK).count, throughput: cell.throughput,
            cpuMicrosPerMessage: rounded(cell.cpuMicrosPerMessage), brokerCores: rounded(cell.brokerCores),
            otherLoad: rounded(cell.otherLoad), p50Micros: cell.p50,
            p99Micros: cell.p99, lost: cell.lost, duplicates: cell.duplicates,
            bytesPerConnection: cell.bytesPerConnection, writeBytesPerMessage: rounded(cell.writeBytesPerMessage),
            writeAmplification: rounded(cell.writeAmplification), storeBytes: cell.storeBytes)
    }
}

/// Three decimals: the inputs are clock ticks and microseconds, more digits are noise.
private func rounded(_ value: Double) -> Double {
    (value * 1000).rounded() / 1000
}

private func rounded(_ value: Double?) -> Double? {
    value.map(rounded)
}
