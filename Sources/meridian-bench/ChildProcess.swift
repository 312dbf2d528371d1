import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error that ends the benchmark with a message for the user.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Monotonic seconds, for deadlines and wall-clock measurements.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func sleepSeconds(_ seconds: Double) {
    usleep(useconds_t(max(0, seconds) * 1e6))
}

/// A child process started with `posix_spawn`, its stdout and stderr going to one log file.
///
/// Signal dispositions and the signal mask are reset in the child, so a broker or the load
/// generator never inherits what this process ignores or blocks. Every live child is
/// registered with ``Interrupts`` so that SIGINT/SIGTERM can reach it.
final class ChildProcess {
    let pid: pid_t
    let executable: String
    let logPath: String
    /// The raw `waitpid` status once the child has been reaped.
    private(set) var waitStatus: Int32?
    /// User plus system CPU seconds the child used, once it has been reaped.
    private(set) var cpuSeconds: Double?

    init(executable: String, arguments: [String], logPath: String) throws {
        self.executable = executable
        self.logPath = logPath

        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t?
        var attributes: posix_spawnattr_t?
        let environment = _NSGetEnviron().pointee
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        let environment = environ
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signo in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, signo) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) }
        argv.append(nil)
        defer { for arg in argv { free(arg) } }

        var pid = pid_t()
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
        guard rc == 0 else {
            throw BenchError("cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        self.pid = pid
        Interrupts.register(pid)
    }

    deinit {
        if waitStatus == nil { terminate() }
    }

    /// Reaps the child if it has exited; true once it is gone.
    @discardableResult
    func poll() -> Bool {
        if waitStatus != nil { return true }
        var status: Int32 = 0
        var usage = rusage()
        let r = wait4(pid, &status, WNOHANG, &usage)
        if r == pid || (r < 0 && errno == ECHILD) {
            waitStatus = r == pid ? status : -1
            if r == pid {
                cpuSeconds = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                    + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
            }
            Interrupts.unregister(pid)
            return true
        }
        return false
    }

    var isRunning: Bool { !poll() }

    /// Waits until the child exits or `timeout` seconds pass; true if it exited.
    func wait(timeout: Double) -> Bool {
        let deadline = monotonicSeconds() + timeout
        while !poll() {
            if monotonicSeconds() > deadline { return false }
            usleep(10_000)
        }
        return true
    }

    /// Sends `signal` (SIGTERM by default), waits `grace` seconds, then kills and reaps.
    func terminate(signal signo: Int32 = SIGTERM, grace: Double = 5) {
        guard !poll() else { return }
        kill(pid, signo)
        if wait(timeout: grace) { return }
        kill(pid, SIGKILL)
        _ = wait(timeout: 5)
    }

    /// The exit code, when the child exited normally.
    var exitCode: Int32? {
        guard let status = waitStatus, status >= 0, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    var statusDescription: String {
        guard let status = waitStatus else { return "running" }
        if status < 0 { return "reaped elsewhere" }
        if status & 0x7f == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "killed by signal \(status & 0x7f)"
    }

    /// The last `lines` lines of the child's output.
    func logTail(lines: Int = 10) -> String {
        guard let text = readTextFile(logPath) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false)
            .suffix(lines + 1).joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Runs a short command to completion and returns its exit code and output.
func runToCompletion(_ executable: String, _ arguments: [String], logPath: String, timeout: Double) throws
    -> (code: Int32?, output: String)
{
    let child = try ChildProcess(executable: executable, arguments: arguments, logPath: logPath)
    if !child.wait(timeout: timeout) {
        child.terminate(signal: SIGKILL, grace: 1)
        throw BenchError("\(executable) did not finish within \(Int(timeout)) s")
    }
    return (child.exitCode, readTextFile(logPath) ?? "")
}

/// The absolute path of `name`: as given if it contains a slash, else searched on PATH.
func findExecutable(_ name: String) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}
