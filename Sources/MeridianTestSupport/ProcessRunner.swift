import Foundation

/// What a finished (or timed-out) command printed and how it ended.
public struct ProcessResult: Sendable, CustomStringConvertible {
    public let commandLine: [String]
    /// Nil when the command did not finish in time and was killed.
    public let exit: ProcessExit?
    public let stdout: String
    public let stderr: String

    public var timedOut: Bool { exit == nil }
    public var succeeded: Bool { exit == .success }

    public var description: String {
        """
        $ \(commandLine.joined(separator: " "))
        status: \(exit?.description ?? "timed out, killed")
        --- stdout ---
        \(stdout)
        --- stderr ---
        \(stderr)
        """
    }
}

/// Runs the command-line peers (`mosquitto_pub`, `mosquitto_sub`, `python3`) with a
/// time limit.
public enum ProcessRunner {
    /// Runs to completion, at most `timeout`; a command still running then is killed and
    /// its result has `exit == nil`.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        stdin: String? = nil,
        timeout: Duration = .seconds(15)
    ) async throws -> ProcessResult {
        let child = try RunningProcess(executable, arguments, stdin: stdin.map { Data($0.utf8) })
        defer { child.cleanup() }
        let exit = await child.waitForExit(timeout: timeout)
        if exit == nil { child.kill9() }
        return ProcessResult(commandLine: child.commandLine, exit: exit, stdout: child.stdout, stderr: child.stderr)
    }

    /// Starts in the background; the caller reads its output and ends it (``RunningProcess/cleanup()``).
    public static func start(_ executable: String, _ arguments: [String], stdin: String? = nil) throws -> RunningProcess {
        try RunningProcess(executable, arguments, stdin: stdin.map { Data($0.utf8) })
    }
}
