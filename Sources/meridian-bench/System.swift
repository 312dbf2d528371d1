import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func readTextFile(_ path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return String(decoding: data, as: UTF8.self)
}

/// `/proc` readings of a process (Linux).
enum ProcFS {
    /// User plus system CPU seconds of all threads of `pid`, from `/proc/<pid>/stat`.
    static func cpuSeconds(_ pid: pid_t) -> Double? {
        guard let stat = readTextFile("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        // After "comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds all processes on the machine spent busy (not idle, not waiting for I/O),
    /// summed over the CPUs, from the first line of `/proc/stat`.
    static func machineBusySeconds() -> Double? {
        guard let stat = readTextFile("/proc/stat"), let line = stat.split(separator: "\n").first,
              line.hasPrefix("cpu ")
        else { return nil }
        // cpu user nice system idle iowait irq softirq steal ...
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 8 else { return nil }
        let busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The counters of `/proc/<pid>/io` (`write_bytes`, `cancelled_write_bytes`, ...).
    /// `write_bytes` counts the bytes of page-cache pages the process dirtied in files on a
    /// block device (4 KiB pages, each counted when it goes from clean to dirty): what the
    /// kernel will write to the disk for it. Socket and pipe writes are not in it.
    static func io(_ pid: pid_t) -> [String: Int]? {
        guard let text = readTextFile("/proc/\(pid)/io") else { return nil }
        var counters: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let value = Int(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
            counters[String(parts[0])] = value
        }
        return counters.isEmpty ? nil : counters
    }

    /// The 1-minute load average.
    static func loadAverage() -> Double? {
        readTextFile("/proc/loadavg")?.split(separator: " ").first.flatMap { Double($0) }
    }

    /// A `kB` field such as `VmRSS` or `VmHWM` from `/proc/<pid>/status`.
    static func statusKB(_ pid: pid_t, _ field: String) -> Int? {
        guard let status = readTextFile("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1).split(separator: " ").first ?? "")
        }
        return nil
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; children inherit it.
/// Returns the resulting soft limit.
@discardableResult
func raiseOpenFileLimit() -> UInt64 {
    var limit = rlimit()
    #if canImport(Glibc)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    guard getrlimit(resource, &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(resource, &raised) == 0 { limit = raised }
    }
    return UInt64(limit.rlim_cur)
}

/// Loopback TCP helpers.
enum Loopback {
    private static func address(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port)).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private static func tcpSocket() -> Int32 {
        #if canImport(Glibc)
        return socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        return socket(AF_INET, SOCK_STREAM, 0)
        #endif
    }

    /// `count` distinct ports that are free on 127.0.0.1 right now (the kernel picks them;
    /// all sockets stay bound until every port is chosen, so they differ).
    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { _ = close($0) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = tcpSocket()
            guard fd >= 0 else { throw BenchError("socket(): \(String(cString: strerror(errno)))") }
            sockets.append(fd)
            var addr = address(port: 0)
            let bound = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else { throw BenchError("bind(127.0.0.1:0): \(String(cString: strerror(errno)))") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            ports.append(Int(UInt16(bigEndian: addr.sin_port)))
        }
        return ports
    }

    /// A blocking TCP socket connected to 127.0.0.1:`port`.
    static func connectedSocket(port: Int) throws -> Int32 {
        let fd = tcpSocket()
        guard fd >= 0 else { throw BenchError("socket(): \(String(cString: strerror(errno)))") }
        var addr = address(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw BenchError("connect(127.0.0.1:\(port)): \(reason)")
        }
        return fd
    }

    /// True if something accepts TCP connections on 127.0.0.1:`port`.
    static func accepts(port: Int) -> Bool {
        let fd = tcpSocket()
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = address(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0
    }
}
