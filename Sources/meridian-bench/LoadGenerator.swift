import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The neutral C load generator `mqttload`, located or built once per benchmark.
struct LoadGenerator {
    let path: String
    /// Where it came from, for the report.
    let origin: String

    /// `$MQTTLOAD` if set; otherwise `mqttload.c` from `$MQTTLOAD_SRC` or
    /// `<package root>/../shared/tools/mqttload.c`, compiled into `workDir`.
    static func prepare(packageRoot: String?, workDir: String) throws -> LoadGenerator {
        let environment = ProcessInfo.processInfo.environment
        if let binary = environment["MQTTLOAD"], !binary.isEmpty {
            guard access(binary, X_OK) == 0 else {
                throw BenchError("MQTTLOAD=\(binary) is not an executable file")
            }
            return LoadGenerator(path: binary, origin: "MQTTLOAD=\(binary)")
        }
        let source: String
        if let given = environment["MQTTLOAD_SRC"], !given.isEmpty {
            source = given
        } else if let packageRoot {
            source = URL(fileURLWithPath: packageRoot).appendingPathComponent("../shared/tools/mqttload.c")
                .standardizedFileURL.path
        } else {
            throw BenchError(
                "no load generator: set MQTTLOAD to a built mqttload binary or MQTTLOAD_SRC to mqttload.c "
                    + "(no Package.swift above \(FileManager.default.currentDirectoryPath) to find ../shared/tools/mqttload.c from)")
        }
        guard FileManager.default.fileExists(atPath: source) else {
            throw BenchError(
                "load generator source \(source) not found; set MQTTLOAD to a built mqttload binary "
                    + "or MQTTLOAD_SRC to mqttload.c")
        }
        guard let cc = findExecutable("cc") else {
            throw BenchError("cannot build \(source): no `cc` on PATH; set MQTTLOAD to a built mqttload binary")
        }
        let binary = "\(workDir)/mqttload"
        let (code, output) = try runToCompletion(
            cc, ["-O2", "-o", binary, source, "-lm"], logPath: "\(workDir)/mqttload-build.log", timeout: 180)
        guard code == 0 else {
            throw BenchError("building the load generator failed: cc -O2 -o \(binary) \(source) -lm\n\(output)")
        }
        return LoadGenerator(path: binary, origin: "built from \(source)")
    }

    /// One finished `mqttload` run.
    struct Run {
        /// The mqttload arguments.
        var arguments: [String]
        /// The key=value pairs of its `RESULT` line; empty if it printed none.
        var result: [String: String]
        var statusDescription: String
        var wallSeconds: Double
        /// Broker CPU seconds from `/proc` around the whole run (setup and teardown included).
        var brokerCPUSeconds: Double?
        /// CPU seconds of the load generator itself, whole run.
        var generatorCPUSeconds: Double?
        /// CPU seconds everything on the machine used during the run.
        var machineBusySeconds: Double?
        var outputTail: String
    }

    /// Runs `mqttload` against `broker` and waits for it. `mqttload -T` bounds the run;
    /// a watchdog kills it if it overstays that by 30 s.
    func run(_ scenario: Scenario, against broker: Broker, mqttVersion: Int, logPath: String) throws -> Run {
        let arguments = [
            "-Q", "-V", "\(mqttVersion)", "-h", "127.0.0.1", "-p", "\(broker.port)",
            "-x", "\(broker.pid)", "-T", "\(Int(scenario.timeLimit))",
        ] + scenario.arguments
        let cpuBefore = ProcFS.cpuSeconds(broker.pid)
        let busyBefore = ProcFS.machineBusySeconds()
        let start = monotonicSeconds()
        let child = try ChildProcess(executable: path, arguments: arguments, logPath: logPath)
        if !child.wait(timeout: scenario.timeLimit + 30) {
            child.terminate(signal: SIGINT, grace: 5)
        }
        let wall = monotonicSeconds() - start
        let cpuAfter = ProcFS.cpuSeconds(broker.pid)
        let busyAfter = ProcFS.machineBusySeconds()
        let output = readTextFile(logPath) ?? ""
        return Run(
            arguments: arguments,
            result: Self.parseResult(output),
            statusDescription: child.statusDescription,
            wallSeconds: wall,
            brokerCPUSeconds: cpuBefore.flatMap { before in cpuAfter.map { $0 - before } },
            generatorCPUSeconds: child.cpuSeconds,
            machineBusySeconds: busyBefore.flatMap { before in busyAfter.map { $0 - before } },
            outputTail: child.logTail(lines: 5))
    }

    /// The pairs of the last line that starts with `RESULT `.
    static func parseResult(_ output: String) -> [String: String] {
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }) else { return [:] }
        var result: [String: String] = [:]
        for pair in line.dropFirst("RESULT ".count).split(separator: " ") {
            guard let eq = pair.firstIndex(of: "=") else { continue }
            result[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        return result
    }
}
