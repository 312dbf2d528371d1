#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM handling.
///
/// The handler does only async-signal-safe work: it counts the signal and sends SIGTERM to
/// every registered child, so a running load generator stops early and prints its result.
/// The runner notices ``requested`` between steps, stops, and cleans up as usual (brokers
/// stopped, JSON written). A second signal SIGKILLs the children and exits at once.
/// A crash (a Swift trap, a bad access) SIGKILLs the children too, so no broker outlives
/// the benchmark, then hands the signal to the handler that was there before (the Swift
/// runtime's backtracer, or the default action).
enum Interrupts {
    fileprivate static let slots = 32
    /// `[0]`: signals received; `[1...slots]`: pids of live children, 0 = free slot.
    fileprivate static let table: UnsafeMutablePointer<pid_t> = {
        let table = UnsafeMutablePointer<pid_t>.allocate(capacity: slots + 1)
        table.initialize(repeating: 0, count: slots + 1)
        return table
    }()

    /// The crash handlers that were installed before ours, indexed by signal number.
    fileprivate static let previousCrashActions: UnsafeMutablePointer<sigaction> = {
        let actions = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
        actions.initialize(repeating: sigaction(), count: 65)
        return actions
    }()

    static func install() {
        // Initialise the lazy globals before a handler can touch them.
        _ = table
        _ = previousCrashActions
        signal(SIGPIPE, SIG_IGN)
        signal(SIGINT, onSignal)
        signal(SIGTERM, onSignal)
        for signo in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE] {
            sigaction(signo, nil, previousCrashActions + Int(signo))
            signal(signo, onCrash)
        }
    }

    static var requested: Bool { table[0] != 0 }

    static func register(_ pid: pid_t) {
        for i in 1...slots where table[i] == 0 {
            table[i] = pid
            return
        }
    }

    static func unregister(_ pid: pid_t) {
        for i in 1...slots where table[i] == pid { table[i] = 0 }
    }
}

private func onSignal(_ signo: Int32) {
    let table = Interrupts.table
    table[0] += 1
    let first = table[0] == 1
    for i in 1...Interrupts.slots where table[i] > 0 {
        kill(table[i], first ? SIGTERM : SIGKILL)
    }
    if !first { _exit(130) }
}

/// The signal raised again is delivered to the previous handler as this one returns, in the
/// context of the crash.
private func onCrash(_ signo: Int32) {
    let table = Interrupts.table
    for i in 1...Interrupts.slots where table[i] > 0 { kill(table[i], SIGKILL) }
    sigaction(signo, Interrupts.previousCrashActions + Int(signo), nil)
    raise(signo)
}
