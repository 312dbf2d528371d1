import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The clients of a failover run (``Scenario/Kind/failover``): each connects to node A with its
/// own client id (MQTT 3.1.1, clean session), and after node A is killed each connects to node B
/// with the same id, again and again (200 ms after each refusal or timeout, as devices do), until
/// B accepts it. The figure is the time from the kill to each client's CONNACK 0 from B.
struct FailoverClients {
    let clients: Int
    let runName: String

    private var identifiers: [String] { (0..<clients).map { "bench-failover-\(runName)-\($0)" } }

    /// Connects every client to `port`; returns their sockets (kept open), or throws.
    func connectAll(port: Int) throws -> [Int32] {
        var sockets: [Int32] = []
        for id in identifiers {
            let fd = try Loopback.connectedSocket(port: port)
            setTimeout(fd, seconds: 10)
            write(fd, Self.connect(clientID: id))
            guard Self.connackCode(fd) == 0 else {
                close(fd)
                for open in sockets { close(open) }
                throw BenchError("failover client \(id): not accepted by 127.0.0.1:\(port)")
            }
            sockets.append(fd)
        }
        return sockets
    }

    /// Seconds from `killedAt` to each client's acceptance by `port`; nil for a client not
    /// accepted before `deadline` (monotonic seconds).
    func reconnectAll(port: Int, killedAt: Double, deadline: Double) -> [Double?] {
        let results = ResultsBox(count: clients)
        let threads = identifiers.enumerated().map { index, id in
            Thread {
                while monotonicSeconds() < deadline {
                    guard let fd = try? Loopback.connectedSocket(port: port) else {
                        sleepSeconds(0.2)
                        continue
                    }
                    setTimeout(fd, seconds: 10)
                    write(fd, Self.connect(clientID: id))
                    if Self.connackCode(fd) == 0 {
                        results.set(index, monotonicSeconds() - killedAt)
                        close(fd)
                        return
                    }
                    close(fd)
                    sleepSeconds(0.2)
                }
            }
        }
        for thread in threads { thread.start() }
        while !results.complete && monotonicSeconds() < deadline + 11 { sleepSeconds(0.01) }
        return results.values
    }

    private final class ResultsBox: @unchecked Sendable {
        private let lock = NSLock()
        private var storage: [Double?]
        private var filled = 0
        init(count: Int) { storage = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: Double) {
            lock.lock()
            storage[index] = value
            filled += 1
            lock.unlock()
        }
        var complete: Bool { lock.lock(); defer { lock.unlock() }; return filled == storage.count }
        var values: [Double?] { lock.lock(); defer { lock.unlock() }; return storage }
    }

    private func setTimeout(_ fd: Int32, seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// CONNECT, MQTT 3.1.1, clean session, keep-alive 60 s.
    static func connect(clientID: String) -> [UInt8] {
        let id = Array(clientID.utf8)
        let body: [UInt8] = [0, 4] + Array("MQTT".utf8) + [4, 0x02, 0, 60] + [UInt8(id.count >> 8), UInt8(id.count & 0xFF)] + id
        return [0x10, UInt8(body.count)] + body
    }

    /// The return code of the CONNACK that answers, or nil (closed, timed out, something else).
    static func connackCode(_ fd: Int32) -> UInt8? {
        var buffer = [UInt8](repeating: 0, count: 4)
        var got = 0
        while got < 4 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, 4 - got, 0) }
            if n <= 0 { return nil }
            got += n
        }
        guard buffer[0] == 0x20, buffer[1] == 2 else { return nil }
        return buffer[3]
    }
}
