import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The broker under test, run as a child process on a free loopback port with a config
/// file generated into a fresh temp directory.
///
/// ```swift
/// let broker = try await BrokerProcess.started(options: ["sys_interval 1"])
/// defer { broker.cleanup() }
/// ```
///
/// The config is Mosquitto syntax, read by `meridian-edge --config FILE` and by
/// `mosquitto -c FILE` alike:
///
/// ```
/// listener PORT 127.0.0.1
/// allow_anonymous true
/// persistence_location TEMPDIR/data/
/// <options, one per line>
/// ```
public final class BrokerProcess: @unchecked Sendable {
    public let kind: BrokerKind
    public let port: Int
    /// The temp directory holding the config, the data directory and the logs.
    public let directory: URL
    public let configFile: URL
    public let dataDirectory: URL
    /// When set, the next ``launch()`` runs the broker under `/bin/sh -c 'ulimit -f N; exec ...'`:
    /// a file-size limit (RLIMIT_FSIZE) of `N` blocks of 512 bytes, so that no file the broker
    /// writes (its database, its WAL) can grow past `N * 512` bytes. Set it to nil to lift the
    /// limit for the next run.
    public var fileSizeLimitBlocks: Int?
    private var child: RunningProcess?
    private var runs = 0
    private var cleanedUp = false

    /// Writes the config file; ``start(timeout:)`` launches the broker.
    ///
    /// - Parameters:
    ///   - options: extra config lines, appended after the standard ones.
    ///   - configText: the whole config file instead of the generated one (for config
    ///     error tests); `options` is then ignored.
    public init(kind: BrokerKind = .underTest, options: [String] = [], configText: String? = nil) throws {
        self.kind = kind
        port = try FreePort.allocate()
        directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-broker")
        configFile = directory.appendingPathComponent("broker.conf")
        dataDirectory = directory.appendingPathComponent("data", isDirectory: true)
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let text = configText ?? Self.config(port: port, dataDirectory: dataDirectory, options: options)
        try Data(text.utf8).write(to: configFile)
    }

    deinit { cleanup() }

    /// A broker that is already accepting connections.
    public static func started(
        kind: BrokerKind = .underTest,
        options: [String] = [],
        timeout: Duration = .seconds(20)
    ) async throws -> BrokerProcess {
        let broker = try BrokerProcess(kind: kind, options: options)
        do {
            try await broker.start(timeout: timeout)
        } catch {
            broker.cleanup()
            throw error
        }
        return broker
    }

    /// The standard config plus `options`.
    public static func config(port: Int, dataDirectory: URL, options: [String]) -> String {
        let lines = [
            "listener \(port) 127.0.0.1",
            "allow_anonymous true",
            "persistence_location \(dataDirectory.path)/",
        ] + options
        return lines.joined(separator: "\n") + "\n"
    }

    public var configText: String {
        (try? String(contentsOf: configFile, encoding: .utf8)) ?? ""
    }

    /// Launches the broker without waiting for it (config-error and signal tests).
    public func launch() throws {
        precondition(child?.isRunning != true, "broker already running")
        runs += 1
        var (executable, arguments) = try kind.commandLine(configFile: configFile.path)
        if let blocks = fileSizeLimitBlocks {
            // `exec` keeps the pid, so stop() and kill9() still reach the broker itself.
            arguments = ["-c", "ulimit -f \(blocks) && exec \"$0\" \"$@\"", executable] + arguments
            executable = "/bin/sh"
        }
        child = try RunningProcess(executable, arguments, outputDirectory: directory, outputName: "broker\(runs)")
    }

    /// Launches the broker and waits until its port accepts a TCP connection, polling
    /// every 20 ms for at most `timeout`.
    ///
    /// - Throws: if the broker exits first or the time runs out, with its stderr.
    public func start(timeout: Duration = .seconds(20)) async throws {
        try launch()
        let deadline = ContinuousClock.now + timeout
        while true {
            guard let child, child.isRunning else {
                throw BrokerStartError(message: "\(kind) exited before accepting connections", broker: self)
            }
            if let fd = try Loopback.connect(port: port) {
                _ = close(fd)
                return
            }
            if ContinuousClock.now >= deadline {
                throw BrokerStartError(message: "\(kind) did not accept connections on port \(port) within \(timeout)", broker: self)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    public var isRunning: Bool { child?.isRunning ?? false }
    public var pid: Int32? { child?.pid }

    /// How the last run ended; nil while it runs or before the first launch.
    public var exit: ProcessExit? { child?.exit }

    /// What the current (or last) run wrote to stderr.
    public var stderr: String { child?.stderr ?? "" }

    /// Waits for the broker to exit on its own, at most `timeout`.
    public func waitForExit(timeout: Duration) async -> ProcessExit? {
        await child?.waitForExit(timeout: timeout)
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) -> ProcessExit? {
        child?.stop(grace: grace)
    }

    /// SIGKILL: the broker gets no chance to clean up.
    @discardableResult
    public func kill9() -> ProcessExit? {
        child?.kill9()
    }

    /// Kills the broker if it still runs and removes the temp directory. Safe to call
    /// more than once; `deinit` calls it too.
    public func cleanup() {
        guard !cleanedUp else { return }
        cleanedUp = true
        child?.cleanup()
        if ProcessInfo.processInfo.environment["MERIDIAN_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// The config, the command line and stderr, for failure messages.
    public var report: String {
        """
        broker under test: \(kind), port \(port)
        --- \(configFile.path) ---
        \(configText)
        \(child?.report ?? "(not launched)")
        """
    }
}

public struct BrokerStartError: Error, CustomStringConvertible {
    public let description: String

    init(message: String, broker: BrokerProcess) {
        description = "\(message)\n\(broker.report)"
    }
}
