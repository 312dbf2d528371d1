import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal MQTT 3.1.1 subscriber on a blocking socket: the persistent session (clean session 0,
/// fixed client id) that mqttload cannot open (it always connects with clean session 1 and a
/// generated id). It subscribes, disconnects or stays to receive, and acknowledges every QoS 1
/// PUBLISH at once. It counts mqttload's messages by (publisher, sequence), the payload's bytes
/// 8..15, so duplicates show.
final class PersistentSubscriber {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var readFrom = 0
    private var chunk = [UInt8](repeating: 0, count: 65536)
    /// CONNACK's session-present flag.
    private(set) var sessionPresent = false

    private let lock = NSLock()
    private var seen = Set<UInt64>()
    private var total = 0
    private var stopRequested = false
    /// Monotonic seconds of the read that brought the first and the latest new distinct message.
    private var firstNew: Double?
    private var lastNew: Double?

    /// Connects and waits for CONNACK; `timeout` bounds every blocking read.
    init(port: Int, clientID: String, cleanSession: Bool, timeout: Double = 10) throws {
        fd = try Loopback.connectedSocket(port: port)
        do {
            setReadTimeout(timeout)
            let id = Array(clientID.utf8)
            // Protocol name "MQTT", level 4, flags, keep alive 0 (off), client id.
            let variable: [UInt8] = [0, 4, 0x4D, 0x51, 0x54, 0x54, 4, cleanSession ? 0x02 : 0x00, 0, 0]
            try send(packet(0x10, variable + string(id)))
            guard let (type, body) = try nextPacket(), type == 0x20, body.count == 2 else {
                throw BenchError("no CONNACK from the broker")
            }
            guard body[1] == 0 else { throw BenchError("CONNACK refused the connection with return code \(body[1])") }
            sessionPresent = body[0] & 1 == 1
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// SUBSCRIBE `filter` at `qos` and wait for the SUBACK granting it.
    func subscribe(_ filter: String, qos: UInt8) throws {
        try send(packet(0x82, [0, 1] + string(Array(filter.utf8)) + [qos]))
        guard let (type, body) = try nextPacket(), type == 0x90, body.count == 3 else {
            throw BenchError("no SUBACK from the broker")
        }
        guard body[2] == qos else { throw BenchError("SUBACK granted \(body[2]) instead of QoS \(qos)") }
    }

    /// DISCONNECT (the session stays on the broker) and close.
    func disconnect() {
        try? send([0xE0, 0x00])
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Messages received (duplicates included) and distinct messages, since the last reset.
    var counts: (received: Int, unique: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (total, seen.count)
    }

    func resetCounts() {
        lock.lock()
        total = 0
        seen.removeAll(keepingCapacity: true)
        firstNew = nil
        lastNew = nil
        lock.unlock()
    }

    /// When the first and the latest new distinct message arrived (monotonic seconds of the
    /// read that brought them), since the last reset.
    var arrivals: (first: Double?, last: Double?) {
        lock.lock()
        defer { lock.unlock() }
        return (firstNew, lastNew)
    }

    /// Makes ``receive(until:idle:deadline:)`` return at its next read timeout (0.1 s at most).
    func stop() {
        lock.lock()
        stopRequested = true
        lock.unlock()
    }

    /// Receives and acknowledges messages until `expected` distinct ones arrived, nothing arrived
    /// for `idle` seconds, ``stop()`` was called, or `deadline` (monotonic seconds) passed.
    /// Runs on any one thread; ``counts`` may be read from another.
    func receive(until expected: Int = .max, idle: Double, deadline: Double) throws {
        setReadTimeout(0.1)
        var lastArrival = monotonicSeconds()
        var readAt = lastArrival
        while true {
            // Packets may already be buffered (they can come in the same read as CONNACK).
            var acks: [UInt8] = []
            while let (type, body) = try parsedPacket() {
                guard type >> 4 == 3 else { continue }
                let qos = (type >> 1) & 3
                guard body.count >= 2 else { throw BenchError("malformed PUBLISH") }
                let topicLength = Int(body[0]) << 8 | Int(body[1])
                var at = 2 + topicLength
                if qos > 0 {
                    guard body.count >= at + 2 else { throw BenchError("malformed PUBLISH") }
                    if qos == 1 { acks += [0x40, 0x02, body[at], body[at + 1]] }
                    at += 2
                }
                var key = UInt64.max
                if body.count >= at + 16 {
                    key = 0
                    for i in 0..<8 { key |= UInt64(body[at + 8 + i]) << (8 * UInt64(i)) }
                }
                lock.lock()
                total += 1
                if seen.insert(key).inserted {
                    if firstNew == nil { firstNew = readAt }
                    lastNew = readAt
                }
                lock.unlock()
            }
            if !acks.isEmpty { try send(acks) }

            lock.lock()
            let done = stopRequested || seen.count >= expected
            lock.unlock()
            let now = monotonicSeconds()
            if done || now > deadline || now - lastArrival > idle { return }
            if try fill(allowTimeout: true) {
                lastArrival = monotonicSeconds()
                readAt = lastArrival
            }
        }
    }

    // MARK: - wire

    private func setReadTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: suseconds_t((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private func string(_ bytes: [UInt8]) -> [UInt8] { [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes }

    private func packet(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
        var out = [type]
        var length = body.count
        repeat {
            var byte = UInt8(length & 0x7F)
            length >>= 7
            if length > 0 { byte |= 0x80 }
            out.append(byte)
        } while length > 0
        return out + body
    }

    private func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, bytes.count - sent) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BenchError("write to the broker failed: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Reads what the socket has into the buffer; false on a read timeout if `allowTimeout`.
    private func fill(allowTimeout: Bool) throws -> Bool {
        if readFrom > 0 && readFrom == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readFrom = 0
        } else if readFrom > 65536 {
            buffer.removeFirst(readFrom)
            readFrom = 0
        }
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 65536) }
            if n > 0 {
                buffer += chunk[..<n]
                return true
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if allowTimeout { return false }
                throw BenchError("the broker sent nothing in time")
            }
            throw BenchError(n == 0 ? "the broker closed the connection" : "read failed: \(String(cString: strerror(errno)))")
        }
    }

    /// The next complete packet in the buffer (first byte, body), or nil if there is none yet.
    private func parsedPacket() throws -> (UInt8, [UInt8])? {
        var at = readFrom + 1
        var length = 0
        var shift = 0
        while true {
            guard at < buffer.count else { return nil }
            let byte = buffer[at]
            length |= Int(byte & 0x7F) << shift
            at += 1
            if byte & 0x80 == 0 { break }
            shift += 7
            guard shift < 28 else { throw BenchError("malformed remaining length from the broker") }
        }
        guard buffer.count - at >= length else { return nil }
        let type = buffer[readFrom]
        let body = Array(buffer[at..<(at + length)])
        readFrom = at + length
        return (type, body)
    }

    /// Blocks for the next packet (during the handshake).
    private func nextPacket() throws -> (UInt8, [UInt8])? {
        while true {
            if let packet = try parsedPacket() { return packet }
            _ = try fill(allowTimeout: false)
        }
    }
}
