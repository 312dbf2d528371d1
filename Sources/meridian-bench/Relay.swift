import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP relay on 127.0.0.1 between the edge's bridge and the remote broker, one connection at a
/// time, on a thread of its own. It forwards bytes unchanged and timestamps (monotonic seconds,
/// taken right after the read, before forwarding) the first bytes from the remote (its CONNACK)
/// and the read that brought the first QoS 1/2 PUBLISH from the edge: the bridge's
/// CONNACK-to-first-message latency on the wire, without the reconnect backoff before it.
final class Relay {
    struct Timestamps {
        /// The relay accepted the bridge's TCP connection.
        var accepted: Double?
        /// The first bytes from the remote, which were a CONNACK.
        var connack: Double?
        /// The first QoS 1/2 PUBLISH from the edge.
        var firstPublish: Double?
        /// Connections the bridge made (1 unless it reconnected).
        var connections = 0
        /// What went wrong in the relay, if anything.
        var error: String?
    }

    private let listenFD: Int32
    private let targetPort: Int
    private let lock = NSLock()
    private var stamps = Timestamps()
    private var stopRequested = false
    private let finished = DispatchSemaphore(value: 0)

    /// Listens on 127.0.0.1:`listenPort` and starts the relay thread.
    init(listenPort: Int, targetPort: Int) throws {
        self.targetPort = targetPort
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw BenchError("relay socket(): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(listenPort)).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw BenchError("relay on 127.0.0.1:\(listenPort): \(reason)")
        }
        listenFD = fd
        let thread = Thread { [self] in
            serveConnections()
            finished.signal()
        }
        thread.start()
    }

    var timestamps: Timestamps {
        lock.lock()
        defer { lock.unlock() }
        return stamps
    }

    /// Stops the relay (it checks every 0.1 s), closes its sockets and waits for its thread.
    func stop() {
        lock.lock()
        let already = stopRequested
        stopRequested = true
        lock.unlock()
        if already { return }
        finished.wait()
        close(listenFD)
    }

    private var stopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopRequested
    }

    private func record(_ change: (inout Timestamps) -> Void) {
        lock.lock()
        change(&stamps)
        lock.unlock()
    }

    private func serveConnections() {
        while !stopping {
            var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let edge = accept(listenFD, nil, nil)
            guard edge >= 0 else { continue }
            let now = monotonicSeconds()
            record {
                if $0.accepted == nil { $0.accepted = now }
                $0.connections += 1
            }
            do {
                let remote = try Loopback.connectedSocket(port: targetPort)
                forward(edge: edge, remote: remote)
                close(remote)
            } catch {
                record { $0.error = "\(error)" }
            }
            close(edge)
        }
    }

    /// Copies both ways until either side closes or the relay is stopped.
    private func forward(edge: Int32, remote: Int32) {
        var one: Int32 = 1
        for fd in [edge, remote] { setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var scanner = PacketScanner()
        var sawPublish = timestamps.firstPublish != nil
        var sawConnack = timestamps.connack != nil
        var fds = [pollfd(fd: edge, events: Int16(POLLIN), revents: 0), pollfd(fd: remote, events: Int16(POLLIN), revents: 0)]
        while !stopping {
            guard poll(&fds, 2, 100) > 0 else { continue }
            for i in 0..<2 where fds[i].revents != 0 {
                let from = fds[i].fd
                let to = i == 0 ? remote : edge
                let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                let now = monotonicSeconds()
                if i == 0 && !sawPublish {
                    if buffer.withUnsafeBytes({ scanner.findsQoSPublish(in: UnsafeRawBufferPointer(rebasing: $0[..<n])) }) {
                        sawPublish = true
                        record { $0.firstPublish = now }
                    }
                } else if i == 1 && !sawConnack {
                    sawConnack = true
                    let first = buffer[0]
                    record {
                        if first >> 4 == 2 { $0.connack = now } else { $0.error = "the remote's first packet was not a CONNACK" }
                    }
                }
                var sent = 0
                while sent < n {
                    let w = buffer.withUnsafeBytes { write(to, $0.baseAddress! + sent, n - sent) }
                    if w < 0 && errno == EINTR { continue }
                    guard w > 0 else { return }
                    sent += w
                }
            }
        }
    }
}

/// Follows MQTT packet boundaries in a byte stream, chunk by chunk.
struct PacketScanner {
    private enum State {
        case header
        case length(value: Int, shift: Int)
        case body(remaining: Int)
    }
    private var state = State.header

    /// True if a PUBLISH with QoS 1 or 2 starts in `bytes`.
    mutating func findsQoSPublish(in bytes: UnsafeRawBufferPointer) -> Bool {
        var at = 0
        while at < bytes.count {
            switch state {
            case .header:
                let type = bytes[at]
                at += 1
                if type >> 4 == 3 && (type >> 1) & 3 > 0 { return true }
                state = .length(value: 0, shift: 0)
            case .length(let value, let shift):
                let byte = bytes[at]
                at += 1
                let length = value | Int(byte & 0x7F) << shift
                if byte & 0x80 != 0 {
                    state = .length(value: length, shift: shift + 7)
                } else {
                    state = length == 0 ? .header : .body(remaining: length)
                }
            case .body(let remaining):
                let skip = min(remaining, bytes.count - at)
                at += skip
                state = remaining - skip == 0 ? .header : .body(remaining: remaining - skip)
            }
        }
        return false
    }
}
