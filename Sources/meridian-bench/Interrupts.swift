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
enum Interrupts {
    fileprivate static let slots = 32
    /// `[0]`: signals received; `[1...slots]`: pids of live children, 0 = free slot.
    fileprivate static let table: UnsafeMutablePointer<pid_t> = {
        let table = UnsafeMutablePointer<pid_t>.allocate(capacity: slots + 1)
        table.initialize(repeating: 0, count: slots + 1)
        return table
    }()

    static func install() {
        _ = table  // initialise the lazy global before a handler can touch it
        signal(SIGPIPE, SIG_IGN)
        signal(SIGINT, onSignal)
        signal(SIGTERM, onSignal)
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
