#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Picks a TCP port on 127.0.0.1 that nobody listens on right now.
///
/// The kernel chooses it (bind to port 0), we read it back and close the socket. Another
/// process could take it before the broker binds it; ``BrokerProcess`` reports that as a
/// start failure with the broker's stderr, which names the cause.
public enum FreePort {
    public static func allocate() throws -> Int {
        let fd = socket(AF_INET, Int32(SocketType.stream), 0)
        guard fd >= 0 else { throw SocketError.syscall("socket", errno) }
        defer { _ = close(fd) }

        var address = Loopback.socketAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw SocketError.syscall("bind", errno) }

        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw SocketError.syscall("getsockname", errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A failed socket call, with the errno it left.
public enum SocketError: Error, CustomStringConvertible {
    case syscall(String, Int32)

    public var description: String {
        switch self {
        case .syscall(let name, let code): return "\(name) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

enum SocketType {
    #if canImport(Glibc)
    static let stream = Int(SOCK_STREAM.rawValue)
    #else
    static let stream = Int(SOCK_STREAM)
    #endif
}

// Free functions whose names a method shadows (`send`, `close`, `connect`).
#if canImport(Glibc)
private let systemConnect = Glibc.connect
let systemSend = Glibc.send
let systemClose = Glibc.close
#else
private let systemConnect = Darwin.connect
let systemSend = Darwin.send
let systemClose = Darwin.close
#endif

enum Loopback {
    static func socketAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// Opens a TCP connection to 127.0.0.1:`port`; returns the descriptor, or nil if refused.
    static func connect(port: Int) throws -> Int32? {
        let fd = socket(AF_INET, Int32(SocketType.stream), 0)
        guard fd >= 0 else { throw SocketError.syscall("socket", errno) }
        var address = socketAddress(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                systemConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result == 0 { return fd }
        let code = errno
        _ = close(fd)
        if code == ECONNREFUSED { return nil }
        throw SocketError.syscall("connect", code)
    }
}
