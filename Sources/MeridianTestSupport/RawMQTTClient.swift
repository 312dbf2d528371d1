#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One MQTT control packet as read off the wire, not decoded beyond the fixed header.
public struct RawFrame: Equatable, Sendable, CustomStringConvertible {
    /// The first byte: packet type in the high nibble, flags in the low one.
    public let header: UInt8
    /// Everything after the remaining length.
    public let body: [UInt8]

    public init(header: UInt8, body: [UInt8]) {
        self.header = header
        self.body = body
    }

    public var type: UInt8 { header >> 4 }
    public var flags: UInt8 { header & 0x0F }

    /// The reason code of a 5.0 DISCONNECT (0 when the body is empty, as the spec says).
    public var disconnectReason: UInt8? {
        guard type == PacketType.disconnect else { return nil }
        return body.first ?? 0
    }

    public var description: String {
        let hex = body.prefix(32).map { String($0, radix: 16) }.joined(separator: " ")
        return "packet type \(type) flags \(flags) body [\(hex)\(body.count > 32 ? " …" : "")] (\(body.count) bytes)"
    }
}

/// A plain blocking TCP client with bounded reads, for sending hand-made bytes to the
/// broker and looking at exactly what comes back, including the connection closing.
///
/// Reads poll the socket in short slices and yield in between, so a test waiting here
/// never holds a thread for long.
public final class RawMQTTClient: @unchecked Sendable {
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var peerClosed = false

    /// Connects to 127.0.0.1:`port`.
    public init(port: Int) throws {
        guard let fd = try Loopback.connect(port: port) else {
            throw SocketError.syscall("connect to 127.0.0.1:\(port)", ECONNREFUSED)
        }
        self.fd = fd
    }

    deinit { close() }

    /// Sends all of `bytes`. Throws if the peer has closed the connection (no SIGPIPE).
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { raw in
                systemSend(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                throw SocketError.syscall("send", errno)
            }
            offset += sent
        }
    }

    /// The next packet, or nil if the broker closed the connection first.
    ///
    /// - Throws: ``WaitTimeout`` if neither happens within `timeout`.
    public func readPacket(timeout: Duration = .seconds(5)) async throws -> RawFrame? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let frame = takeFrame() { return frame }
            if peerClosed { return nil }
            if ContinuousClock.now >= deadline {
                throw WaitTimeout("a packet from the broker within \(timeout) (buffered: \(buffer.count) bytes)")
            }
            try await fill(slice: 20)
        }
    }

    /// The next packet, which must be of `type`.
    @discardableResult
    public func expectPacket(_ type: UInt8, timeout: Duration = .seconds(5)) async throws -> RawFrame {
        guard let frame = try await readPacket(timeout: timeout) else {
            throw RawClientError("expected packet type \(type), but the broker closed the connection")
        }
        guard frame.type == type else {
            throw RawClientError("expected packet type \(type), got \(frame)")
        }
        return frame
    }

    /// Sends CONNECT and expects a successful CONNACK.
    @discardableResult
    public func connect(
        _ version: MQTTVersion,
        clientID: String,
        keepAlive: UInt16 = 60,
        cleanStart: Bool = true,
        will: RawWill? = nil,
        properties: [UInt8] = [],
        username: String? = nil,
        password: String? = nil
    ) async throws -> RawFrame {
        try send(RawPacket.connect(
            version, clientID: clientID, keepAlive: keepAlive, cleanStart: cleanStart, will: will, properties: properties,
            username: username, password: password))
        let connack = try await expectPacket(PacketType.connack)
        guard connack.body.count >= 2, connack.body[1] == 0 else {
            throw RawClientError("CONNECT refused: \(connack)")
        }
        return connack
    }

    /// Reads until the broker closes the connection and returns what it sent before.
    ///
    /// - Throws: ``WaitTimeout`` if the connection is still open after `timeout`.
    @discardableResult
    public func waitForClose(timeout: Duration = .seconds(5)) async throws -> [RawFrame] {
        let deadline = ContinuousClock.now + timeout
        var frames: [RawFrame] = []
        while true {
            while let frame = takeFrame() { frames.append(frame) }
            if peerClosed { return frames }
            if ContinuousClock.now >= deadline {
                throw WaitTimeout("the broker to close the connection within \(timeout); it sent \(frames)")
            }
            try await fill(slice: 20)
        }
    }

    /// Closes the socket without sending DISCONNECT.
    public func close() {
        if fd >= 0 {
            _ = systemClose(fd)
            fd = -1
        }
    }

    /// Waits up to `slice` ms for bytes and appends them; marks EOF or reset as closed.
    private func fill(slice: Int32) async throws {
        var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pollFD, 1, slice)
        if ready < 0 {
            if errno == EINTR { return }
            throw SocketError.syscall("poll", errno)
        }
        if ready == 0 {
            await Task.yield()
            return
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            buffer.append(contentsOf: chunk[..<count])
        } else if count == 0 || errno == ECONNRESET || errno == EPIPE {
            peerClosed = true
        } else if errno != EINTR && errno != EAGAIN {
            throw SocketError.syscall("recv", errno)
        }
    }

    /// Removes one complete packet from the front of the buffer, if there is one.
    private func takeFrame() -> RawFrame? {
        guard buffer.count >= 2 else { return nil }
        var length = 0
        var multiplier = 1
        var index = 1
        while true {
            guard index < buffer.count, index <= 4 else { return nil }
            let byte = buffer[index]
            length += Int(byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if byte & 0x80 == 0 { break }
        }
        guard buffer.count >= index + length else { return nil }
        let frame = RawFrame(header: buffer[0], body: Array(buffer[index..<(index + length)]))
        buffer.removeFirst(index + length)
        return frame
    }
}

public struct RawClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A PUBLISH the broker sent, decoded by hand (properties skipped).
public struct RawPublish: Sendable, CustomStringConvertible {
    public let topic: String
    public let qos: UInt8
    public let dup: Bool
    public let retain: Bool
    /// Nil for QoS 0.
    public let packetID: UInt16?
    public let payload: [UInt8]

    public var text: String { String(decoding: payload, as: UTF8.self) }
    public var description: String {
        "\(topic) q\(qos)\(dup ? " dup" : "")\(retain ? " retained" : "") id \(packetID.map(String.init) ?? "-") \"\(text.prefix(40))\"\(payload.count > 40 ? "… (\(payload.count) bytes)" : "")"
    }
}

extension RawFrame {
    /// Decodes this frame as a PUBLISH of `version`.
    public func publish(_ version: MQTTVersion) throws -> RawPublish {
        guard type == PacketType.publish else { throw RawClientError("not a PUBLISH: \(self)") }
        let qos = (flags >> 1) & 0x03
        var index = 0
        func need(_ count: Int) throws {
            guard index + count <= body.count else { throw RawClientError("truncated PUBLISH: \(self)") }
        }
        try need(2)
        let topicLength = Int(body[0]) << 8 | Int(body[1])
        index = 2
        try need(topicLength)
        let topic = String(decoding: body[index..<(index + topicLength)], as: UTF8.self)
        index += topicLength
        var packetID: UInt16?
        if qos > 0 {
            try need(2)
            packetID = UInt16(body[index]) << 8 | UInt16(body[index + 1])
            index += 2
        }
        if version == .v5 {
            var length = 0
            var multiplier = 1
            while true {
                try need(1)
                let byte = body[index]
                index += 1
                length += Int(byte & 0x7F) * multiplier
                multiplier *= 128
                if byte & 0x80 == 0 { break }
            }
            try need(length)
            index += length
        }
        return RawPublish(
            topic: topic, qos: qos, dup: flags & 0x08 != 0, retain: flags & 0x01 != 0,
            packetID: packetID, payload: Array(body[index...]))
    }

    /// The return code of a CONNACK (3.1.1) or its reason code (5.0).
    public var connackCode: UInt8? {
        guard type == PacketType.connack, body.count >= 2 else { return nil }
        return body[1]
    }

    /// The per-filter return codes of a SUBACK of `version`.
    public func subackCodes(_ version: MQTTVersion) throws -> [UInt8] {
        guard type == PacketType.suback, body.count >= 2 else { throw RawClientError("not a SUBACK: \(self)") }
        var index = 2
        if version == .v5 {
            var length = 0
            var multiplier = 1
            while true {
                guard index < body.count else { throw RawClientError("truncated SUBACK: \(self)") }
                let byte = body[index]
                index += 1
                length += Int(byte & 0x7F) * multiplier
                multiplier *= 128
                if byte & 0x80 == 0 { break }
            }
            index += length
        }
        guard index <= body.count else { throw RawClientError("truncated SUBACK: \(self)") }
        return Array(body[index...])
    }

    /// The packet identifier of a PUBACK, PUBREC, PUBREL or PUBCOMP.
    public var ackPacketID: UInt16? {
        guard (PacketType.puback...PacketType.pubcomp).contains(type), body.count >= 2 else { return nil }
        return UInt16(body[0]) << 8 | UInt16(body[1])
    }

    /// The reason code of a PUBACK, PUBREC, PUBREL or PUBCOMP: 0 (Success) when omitted, as
    /// in 3.1.1 and the short 5.0 form.
    public var ackReason: UInt8? {
        guard (PacketType.puback...PacketType.pubcomp).contains(type), body.count >= 2 else { return nil }
        return body.count > 2 ? body[2] : 0
    }
}
