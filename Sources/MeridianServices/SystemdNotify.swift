#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// systemd's readiness protocol (`Type=notify`, sd_notify(3)) without libsystemd: one datagram
/// to the UNIX socket named by `$NOTIFY_SOCKET`. Without that variable (not started by systemd)
/// it does nothing.
enum SystemdNotify {
    /// Listeners, store and bridges are up.
    static func ready() { send("READY=1\nSTATUS=serving") }

    /// Shutdown has begun.
    static func stopping() { send("STOPPING=1") }

    static func send(_ message: String) {
        guard var path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty else { return }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // A leading '@' names a socket in the abstract namespace: a NUL byte on the wire.
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let offset = abstract ? 1 : 0
        guard bytes.count + offset < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index + offset] = byte }
        }
        let length = MemoryLayout<sa_family_t>.size + offset + bytes.count + (abstract ? 0 : 1)
        #if canImport(Glibc) || canImport(Musl)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                Array(message.utf8).withUnsafeBytes { body in
                    sendto(fd, body.baseAddress, body.count, 0, socketAddress, socklen_t(length))
                }
            }
        }
    }
}
