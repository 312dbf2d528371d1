import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Composition: find the pieces, run the bench, report, clean up.
struct BenchMain {
    let options: Options

    func run() -> Int32 {
        guard FileManager.default.fileExists(atPath: "/proc/self/stat") else {
            progress("meridian-bench: needs Linux: broker CPU and memory are read from /proc, and mqttload uses epoll")
            return 1
        }
        let started = Date()
        let loadAtStart = ProcFS.loadAverage()
        let packageRoot = findPackageRoot()
        let openFileLimit = raiseOpenFileLimit()
        let scenarios = Scenario.all(quick: options.quick, backlog: options.effectiveBacklog).filter { options.scenarios.contains($0.name) }
        var notes: [String] = []

        let workDir: String
        do {
            workDir = try makeWorkDirectory()
        } catch {
            progress("meridian-bench: \(error)")
            return 1
        }
        let brokerSpecs: [BrokerSpec]
        let generator: LoadGenerator
        var versions: [String: String] = [:]
        do {
            let (specs, brokerNotes) = try selectBrokers(packageRoot: packageRoot, versions: &versions, workDir: workDir)
            brokerSpecs = specs
            notes += brokerNotes
            generator = try LoadGenerator.prepare(packageRoot: packageRoot, workDir: workDir)
        } catch {
            progress("meridian-bench: \(error)")
            try? FileManager.default.removeItem(atPath: workDir)
            return 1
        }
        if let most = scenarios.map(\.connections).max(), openFileLimit < UInt64(most + 100) {
            notes.append(
                "open files limit is \(openFileLimit) (the hard limit): runs with \(grouped(most)) connections will fall short")
        }

        print("meridian-bench: \(options.reps) repetition\(options.reps == 1 ? "" : "s")\(options.quick ? " (quick smoke run)" : ""), "
            + "MQTT \(options.mqttVersion == 5 ? "5.0" : "3.1.1"), \(ProcessInfo.processInfo.activeProcessorCount) CPUs, "
            + "open files limit \(openFileLimit), load average \(loadAtStart.map { String(format: "%.2f", $0) } ?? "-")")
        print("load generator: \(generator.path) (\(generator.origin))")
        for spec in brokerSpecs {
            print("\(spec.label): \(spec.executable)\(versions[spec.executable].map { " (\($0))" } ?? "")")
            if scenarios.contains(where: { !$0.freshBroker }) { print("  config: \(spec.configurationSummary)") }
            let syncs = scenarios.compactMap { scenario in scenario.store.flatMap { scenario.runs(on: spec) ? $0.sync : nil } }
            for sync in syncs.reduce(into: [String](), { if !$0.contains($1) { $0.append($1) } }) {
                let which = spec.family == .meridian ? "persistence_sync \(sync)" : "durable-*"
                print("  config of the store scenarios (\(which)): \(spec.storeConfigurationSummary(sync: sync))")
                if spec.family == .mosquitto { break }
            }
            if spec.family == .meridian, scenarios.contains(where: { $0.bridge != nil }) {
                print("  config of the bridge scenarios: \(spec.bridgeConfigurationSummary)")
            }
        }
        for note in notes { print("note: \(note)") }
        print("")
        fflush(stdout)

        let bench = Bench(options: options, specs: brokerSpecs, scenarios: scenarios, generator: generator, workDir: workDir)
        var status: Int32 = 0
        var keepWorkDir = options.keepWorkDir
        do {
            try bench.run()
        } catch is Interrupted {
            progress("meridian-bench: interrupted; stopping the brokers")
            status = 130
        } catch {
            progress("meridian-bench: \(error)")
            status = 1
            keepWorkDir = true
        }
        bench.stopBrokers()

        if !bench.records.isEmpty {
            print("")
            print(Report.render(scenarios: scenarios, specs: brokerSpecs, records: bench.records))
        }
        for failure in bench.failures { print("FAILED: \(failure)") }
        if status == 0 && (!bench.failures.isEmpty || bench.records.contains { !$0.isOK }) {
            status = 2
            keepWorkDir = true
        }

        if let jsonPath = options.jsonPath {
            let report = jsonReport(
                bench: bench, started: started, loadAtStart: loadAtStart, openFileLimit: openFileLimit,
                versions: versions, notes: notes)
            do {
                try report.write(to: jsonPath)
                print("raw results: \(jsonPath)")
            } catch {
                progress("meridian-bench: cannot write \(jsonPath): \(error)")
                status = status == 0 ? 1 : status
            }
        }

        if keepWorkDir {
            print("broker configs and logs, mqttload output: \(workDir)")
        } else {
            try? FileManager.default.removeItem(atPath: workDir)
        }
        return status
    }

    private func jsonReport(
        bench: Bench, started: Date, loadAtStart: Double?, openFileLimit: UInt64, versions: [String: String],
        notes: [String]
    ) -> JSONReport {
        JSONReport(
            started: ISO8601DateFormatter().string(from: started),
            machine: .init(
                host: ProcessInfo.processInfo.hostName, cpus: ProcessInfo.processInfo.activeProcessorCount,
                cpuModel: cpuModel(), openFileLimit: openFileLimit, loadAverageAtStart: loadAtStart,
                loadAverageAtEnd: ProcFS.loadAverage()),
            reps: options.reps, quick: options.quick, mqttVersion: options.mqttVersion,
            loadGenerator: bench.generator.origin, notes: notes,
            brokers: bench.specs.map { spec in
                let broker = bench.brokers.first { $0.spec.id == spec.id }
                return .init(
                    id: spec.id, label: spec.label, executable: spec.executable, version: versions[spec.executable],
                    port: broker?.port, pid: broker?.pid, config: broker.flatMap { readTextFile($0.configPath) },
                    failure: broker?.failure)
            },
            runs: bench.records.map(JSONReport.Run.init),
            medians: bench.scenarios.flatMap { scenario in
                Report.cells(scenario, bench.specs, bench.records).filter { !$0.records.isEmpty }
                    .map { JSONReport.Median(scenario: scenario, cell: $0) }
            })
    }

    /// The brokers to run, and notes on those that will not run.
    private func selectBrokers(packageRoot: String?, versions: inout [String: String], workDir: String) throws
        -> ([BrokerSpec], [String])
    {
        var specs: [BrokerSpec] = []
        var notes: [String] = []

        if options.only.isEmpty || options.only.contains("meridian") {
            let path: String
            if let given = options.meridianPath {
                path = given
            } else {
                path = (packageRoot.map { $0 + "/" } ?? "") + ".build/release/meridian-edge"
            }
            if access(path, X_OK) == 0 {
                specs.append(.meridian(path))
            } else if options.meridianPath != nil || options.only.contains("meridian") {
                throw BenchError("meridian-edge not found at \(path); build it with `swift build -c release`")
            } else {
                notes.append("meridian-edge not found at \(path): running Mosquitto only (build it with `swift build -c release`)")
            }
        }

        let mosquittoSpecs = [false, true].map { BrokerSpec.mosquitto(options.mosquittoPath, noDelay: $0) }
            .filter(options.selects)
        if !mosquittoSpecs.isEmpty {
            guard let path = findExecutable(options.mosquittoPath) else {
                throw BenchError("mosquitto not found (\(options.mosquittoPath)); install it, pass --mosquitto PATH, or use --only meridian")
            }
            specs += [false, true].map { BrokerSpec.mosquitto(path, noDelay: $0) }.filter(options.selects)
            // `mosquitto -h` prints "mosquitto version X" first and exits non-zero.
            if let (_, output) = try? runToCompletion(path, ["-h"], logPath: "\(workDir)/mosquitto-version.txt", timeout: 10),
               let first = output.split(separator: "\n").first, first.hasPrefix("mosquitto version")
            {
                versions[path] = String(first)
            }
        }
        guard !specs.isEmpty else { throw BenchError("no broker to run") }
        return (specs, notes)
    }
}

/// The nearest directory at or above the current one (else above this executable) with a Package.swift.
func findPackageRoot() -> String? {
    let fm = FileManager.default
    var starts = [URL(fileURLWithPath: fm.currentDirectoryPath)]
    if let executable = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        starts.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
    }
    for start in starts {
        var dir = start.standardizedFileURL
        while true {
            if fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir.path }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
    }
    return nil
}

func makeWorkDirectory() throws -> String {
    let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array("\(base)/meridian-bench.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
        throw BenchError("cannot create a work directory in \(base): \(String(cString: strerror(errno)))")
    }
    return String(cString: made)
}

func cpuModel() -> String? {
    readTextFile("/proc/cpuinfo")?.split(separator: "\n").first { $0.hasPrefix("model name") }
        .flatMap { $0.split(separator: ":", maxSplits: 1).last }
        .map { $0.trimmingCharacters(in: .whitespaces) }
}
