import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a child process ended.
public struct ProcessExit: Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Sendable { case exited, signalled }
    public let reason: Reason
    /// The exit code, or the signal number when `reason == .signalled`.
    public let code: Int32

    public init(reason: Reason, code: Int32) {
        self.reason = reason
        self.code = code
    }

    /// Exit status 0.
    public static let success = ProcessExit(reason: .exited, code: 0)

    public var description: String { reason == .exited ? "exit \(code)" : "signal \(code)" }
}

/// A child process whose stdout and stderr go to files, so that a chatty child never
/// blocks on a full pipe and the test can read what it printed so far at any time.
///
/// Every instance kills its process and removes its files in ``cleanup()``, which
/// `deinit` calls too; a process still alive when the test binary exits is killed by
/// an `atexit` handler.
public final class RunningProcess: @unchecked Sendable {
    public let commandLine: [String]
    public let directory: URL
    private let process: Process
    private let stdoutURL: URL
    private let stderrURL: URL
    private let ownsDirectory: Bool
    private var cleanedUp = false

    /// Launches `executable` (a path, or a name looked up in `PATH`).
    ///
    /// - Parameters:
    ///   - stdin: bytes written to the child's standard input, which is then closed;
    ///     without it the child reads from `/dev/null`.
    ///   - outputDirectory: where `stdout.log` and `stderr.log` go; a fresh temp
    ///     directory (removed by ``cleanup()``) when nil.
    ///   - outputName: file name prefix, for several processes in one directory.
    public init(
        _ executable: String,
        _ arguments: [String],
        stdin: Data? = nil,
        outputDirectory: URL? = nil,
        outputName: String = ""
    ) throws {
        let path = try TestPaths.executable(executable)
        commandLine = [path] + arguments
        if let outputDirectory {
            directory = outputDirectory
            ownsDirectory = false
        } else {
            directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-proc")
            ownsDirectory = true
        }
        let prefix = outputName.isEmpty ? "" : "\(outputName)."
        stdoutURL = directory.appendingPathComponent("\(prefix)stdout.log")
        stderrURL = directory.appendingPathComponent("\(prefix)stderr.log")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)

        process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let stdoutHandle = try FileHandle(forWritingTo: stdoutURL)
        let stderrHandle = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? stdoutHandle.close()
            try? stderrHandle.close()
        }
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle
        let input = stdin.map { _ in Pipe() }
        process.standardInput = input ?? FileHandle.nullDevice

        try Self.withSignalsUnblocked { try process.run() }
        ChildProcesses.register(process.processIdentifier)
        if let input, let stdin {
            input.fileHandleForWriting.write(stdin)
            try? input.fileHandleForWriting.close()
        }
    }

    deinit { cleanup() }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// How it ended, or nil while it runs.
    public var exit: ProcessExit? {
        guard !process.isRunning else { return nil }
        return ProcessExit(
            reason: process.terminationReason == .exit ? .exited : .signalled,
            code: process.terminationStatus
        )
    }

    /// Everything written to stdout so far.
    public var stdout: String { Self.read(stdoutURL) }
    /// Everything written to stderr so far.
    public var stderr: String { Self.read(stderrURL) }

    /// Waits until the process has exited, at most `timeout`; nil if it is still running.
    @discardableResult
    public func waitForExit(timeout: Duration) async -> ProcessExit? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return exit
    }

    /// Polls stdout until `condition` holds, at most `timeout`.
    ///
    /// - Throws: ``WaitTimeout`` with `what` and the output so far when time runs out.
    @discardableResult
    public func waitForStdout(
        _ what: String,
        timeout: Duration = .seconds(10),
        until condition: (String) -> Bool
    ) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = stdout
            if condition(text) { return text }
            if ContinuousClock.now >= deadline {
                throw WaitTimeout("\(what) within \(timeout)", details: report)
            }
            if !process.isRunning {
                // One last read: the process may have written and exited since.
                let final = stdout
                if condition(final) { return final }
                throw WaitTimeout("\(what): process ended (\(exit!))", details: report)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Sends a signal (SIGTERM, SIGKILL, SIGINT...) if the process still runs.
    public func signal(_ signal: Int32) {
        if process.isRunning { _ = kill(process.processIdentifier, signal) }
    }

    /// SIGTERM, then up to `grace` for it to exit, then SIGKILL. Blocking, so it can run
    /// in a `defer`.
    @discardableResult
    public func stop(grace: Duration = .seconds(5)) -> ProcessExit? {
        guard process.isRunning else { return exit }
        signal(SIGTERM)
        if !waitBlocking(timeout: grace) {
            signal(SIGKILL)
            _ = waitBlocking(timeout: .seconds(5))
        }
        return exit
    }

    /// Kills the process (SIGKILL) and waits for it; no chance to say goodbye.
    @discardableResult
    public func kill9() -> ProcessExit? {
        signal(SIGKILL)
        _ = waitBlocking(timeout: .seconds(5))
        return exit
    }

    /// Stops the process if it still runs and removes its temp directory if it owns one.
    public func cleanup() {
        guard !cleanedUp else { return }
        cleanedUp = true
        if process.isRunning {
            signal(SIGKILL)
            _ = waitBlocking(timeout: .seconds(5))
        }
        ChildProcesses.unregister(process.processIdentifier)
        if ownsDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    /// The command line and what the process printed, for failure messages.
    public var report: String {
        """
        $ \(commandLine.joined(separator: " "))
        status: \(exit?.description ?? "running")
        --- stdout ---
        \(stdout)
        --- stderr ---
        \(stderr)
        """
    }

    /// Runs `body` (the spawn) with an empty signal mask on this thread.
    ///
    /// A child inherits the spawning thread's signal mask, and the threads that run
    /// Swift concurrency tasks block SIGTERM, SIGINT and most others: a broker spawned
    /// from them would never see the SIGTERM the tests send it.
    private static func withSignalsUnblocked<T>(_ body: () throws -> T) rethrows -> T {
        var empty = sigset_t()
        var previous = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    private func waitBlocking(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            usleep(2_000)
        }
        return true
    }

    private static func read(_ url: URL) -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A bounded wait ran out.
public struct WaitTimeout: Error, CustomStringConvertible {
    public let what: String
    public let details: String
    public init(_ what: String, details: String = "") {
        self.what = what
        self.details = details
    }

    public var description: String {
        details.isEmpty ? "timed out waiting for \(what)" : "timed out waiting for \(what)\n\(details)"
    }
}

/// The pids of children still running, killed when the test binary exits so that a
/// crashed or interrupted test leaves no broker or client behind.
enum ChildProcesses {
    private static let lock = NSLock()
    private static var pids: Set<Int32> = []
    private static var installed = false

    static func register(_ pid: Int32) {
        lock.lock()
        defer { lock.unlock() }
        pids.insert(pid)
        if !installed {
            installed = true
            atexit { ChildProcesses.killAll() }
        }
    }

    static func unregister(_ pid: Int32) {
        lock.lock()
        defer { lock.unlock() }
        pids.remove(pid)
    }

    private static func killAll() {
        lock.lock()
        let remaining = pids
        pids = []
        lock.unlock()
        for pid in remaining { _ = kill(pid, SIGKILL) }
    }
}
