import MeridianMQTT
import NIOCore

/// The life of one client connection as the protocol sees it (MQTT 5 sections 3.1, 3.14, 4.13):
/// which packet may come when, how a protocol violation or a server-side close is answered, when
/// the connection is dead by its keep-alive, and whether the will is still due when it ends.
///
/// Pure: packets and timer checks in, each with `now`; one ``Action`` out, which the connection
/// handler carries out. What a connected client's packets do to its session (the QoS flows,
/// subscriptions) is decided by the session's own machines (``OutboundFlow``, ``InboundFlow``,
/// ``PublishCheck``, ``SubscribeDecision``), since a takeover hands the session to another connection.
public struct ConnectionMachine: Sendable {
    public enum Phase: Sendable, Hashable {
        case awaitingConnect
        /// CONNECT passed authentication and waits for the admission seam; nothing more is read.
        case admitting
        case connected
        case closing
    }

    public enum Action: Sendable, Hashable {
        /// Negotiate, authenticate and admit this CONNECT (``ConnectNegotiation``, ``SessionAdmission``).
        case connect(MQTTConnect)
        /// A connected client's packet for its session: PUBLISH, an acknowledgement, SUBSCRIBE, UNSUBSCRIBE.
        case session(MQTTPacket)
        /// The client's DISCONNECT: apply its session expiry (``clientDisconnected(_:)`` then closes).
        case clientDisconnect(MQTTDisconnect)
        /// Write this packet.
        case send(MQTTPacket)
        /// Write `answer` (if any), then close the connection.
        case close(answer: MQTTPacket?)
        /// Nothing (a packet read after the connection began to close).
        case none
    }

    public private(set) var phase = Phase.awaitingConnect
    /// The CONNECT's protocol version; 3.1.1 until it arrives.
    public private(set) var version = MQTTProtocolVersion.v3_1_1
    /// Set when the connection ends in a way that must not publish the will.
    public private(set) var willSuppressed = false
    /// Set when another connection took the session over.
    public private(set) var takenOver = false
    /// The client's keep-alive once connected (nil for keep-alive 0).
    public private(set) var keepAlive: KeepAliveWatchdog?

    public init() {}

    /// Whether packets may be read and handled now: not while a CONNECT waits for admission, nor
    /// once the connection is closing.
    public var isReceiving: Bool { phase == .awaitingConnect || phase == .connected }

    // MARK: Packets

    /// Bytes arrived from the client: it is alive (3.1.2.10).
    public mutating func heard(at now: NIODeadline) {
        if keepAlive != nil { keepAlive!.heard(at: now) }
    }

    /// A whole packet from the client.
    public mutating func received(_ packet: MQTTPacket) -> Action {
        switch phase {
        case .closing, .admitting:
            return .none
        case .awaitingConnect:
            guard case .connect(let connect) = packet else {
                return violation(MQTTCodecError(.protocolError, "first packet is not CONNECT", packetType: packet.type))
            }
            version = connect.protocolVersion
            return .connect(connect)
        case .connected:
            break
        }
        switch packet {
        case .publish, .puback, .pubrec, .pubrel, .pubcomp, .subscribe, .unsubscribe:
            return .session(packet)
        case .pingreq:
            return .send(.pingresp)
        case .disconnect(let disconnect):
            return .clientDisconnect(disconnect)
        case .connect:
            return violation(MQTTCodecError(.protocolError, "second CONNECT", packetType: .connect))
        case .auth:
            return violation(MQTTCodecError(.protocolError, "AUTH without an authentication method", packetType: .auth))
        case .connack, .suback, .unsuback, .pingresp:
            return violation(MQTTCodecError(.protocolError, "\(packet.type) is sent by servers only", packetType: packet.type))
        }
    }

    /// A malformed packet or a protocol violation, answered as the specification says: before the
    /// session exists, MQTT 5 gets CONNACK with the reason code (an unsupported version gets the
    /// 3.1.1 answer every client can read, 3.1.2.2); once connected, MQTT 5 gets DISCONNECT; 3.1.1
    /// is just closed. The will is published when a connected client breaks the protocol.
    /// - Parameter announcedVersion: the version the reader saw in a CONNECT it could not finish.
    public mutating func violation(_ error: MQTTCodecError, announcedVersion: MQTTProtocolVersion? = nil) -> Action {
        switch phase {
        case .awaitingConnect, .admitting:
            willSuppressed = true
            phase = .closing
            if error.code == .unsupportedProtocolVersion {
                version = .v3_1_1
                return .close(answer: .connack(MQTTConnack(sessionPresent: false, reasonCode: .v3UnacceptableProtocolVersion)))
            }
            if announcedVersion == .v5 || version == .v5 {
                version = .v5
                return .close(answer: .connack(MQTTConnack(sessionPresent: false, reasonCode: error.reasonCode)))
            }
            return .close(answer: nil)
        case .connected:
            return disconnect(reason: error.reasonCode, publishWill: true)
        case .closing:
            return .none
        }
    }

    /// The client's DISCONNECT, after its session expiry was applied: 0x04 asks for the will to be
    /// published; every other reason discards it (3.14.2.1).
    public mutating func clientDisconnected(_ disconnect: MQTTDisconnect) -> Action {
        willSuppressed = disconnect.reasonCode != .disconnectWithWillMessage
        phase = .closing
        return .close(answer: nil)
    }

    // MARK: CONNECT

    /// The CONNECT went to the admission seam: nothing more is read until the answer.
    public mutating func admitting() {
        if phase == .awaitingConnect { phase = .admitting }
    }

    /// The session is attached and CONNACK is to be sent. - Returns: the first keep-alive check,
    /// nil for keep-alive 0.
    public mutating func accepted(keepAlive seconds: UInt16, now: NIODeadline) -> NIODeadline? {
        phase = .connected
        keepAlive = KeepAliveWatchdog(keepAlive: Int(seconds), now: now)
        guard case .alive(let first) = keepAlive?.check(now: now) else { return nil }
        return first
    }

    /// The CONNECT is refused (negotiation, authentication, admission, another user's session): an
    /// MQTT 5 code, mapped to the nearest 3.1.1 return code for older clients unless it is one
    /// already (a value below 0x80); a redirect carries the Server Reference (MQTT 5 only).
    public mutating func refused(_ reason: MQTTReasonCode, serverReference: String? = nil) -> Action {
        willSuppressed = true
        phase = .closing
        let code = version == .v5 || !reason.isFailure ? reason : reason.v3ConnackReturnCode
        var properties = MQTTProperties()
        if version == .v5, let serverReference { properties.append(.serverReference(serverReference)) }
        return .close(answer: .connack(MQTTConnack(sessionPresent: false, reasonCode: code, properties: properties)))
    }

    /// No CONNECT within `connect_timeout`. - Returns: nil if one arrived meanwhile.
    public mutating func connectTimedOut() -> Action? {
        guard phase == .awaitingConnect else { return nil }
        phase = .closing
        return .close(answer: nil)
    }

    // MARK: Ending

    /// The keep-alive check of the loop's timer.
    public enum KeepAliveCheck: Sendable, Hashable {
        /// Not watched (not connected, or keep-alive 0): no further checks.
        case unwatched
        case checkAgain(at: NIODeadline)
        /// Silent for 1.5 × keep-alive: carry out the action (MQTT 5: DISCONNECT 0x8D); the will is due.
        case expired(Action)
    }

    public mutating func checkKeepAlive(now: NIODeadline) -> KeepAliveCheck {
        guard phase == .connected, let watchdog = keepAlive else { return .unwatched }
        switch watchdog.check(now: now) {
        case .alive(let next): return .checkAgain(at: next)
        case .expired: return .expired(disconnect(reason: .keepAliveTimeout, publishWill: true))
        }
    }

    /// The server closes the connection: MQTT 5 clients get DISCONNECT with `reason` first.
    public mutating func disconnect(reason: MQTTReasonCode, publishWill: Bool) -> Action {
        guard phase == .connected else {
            if phase != .closing { phase = .closing }
            return .close(answer: nil)
        }
        if !publishWill { willSuppressed = true }
        phase = .closing
        return .close(answer: version == .v5 ? .disconnect(MQTTDisconnect(reasonCode: reason)) : nil)
    }

    /// The node stops serving (a region node that fenced itself): MQTT 5 clients get DISCONNECT with
    /// `reason` (0x9C Use another server, 0x9D Server moved) and a Server Reference to go to;
    /// 3.1.1 clients are closed and find another address themselves. The will is published.
    public mutating func redirect(reason: MQTTReasonCode, serverReference: String?) -> Action {
        guard phase == .connected, version == .v5 else { return disconnect(reason: reason, publishWill: true) }
        phase = .closing
        var properties = MQTTProperties()
        if let serverReference { properties.append(.serverReference(serverReference)) }
        return .close(answer: .disconnect(MQTTDisconnect(reasonCode: reason, properties: properties)))
    }

    /// Another connection took the session over (3.1.4). The new connection arrived within any will
    /// delay, so a delayed will is not sent, unless its Clean Start ended the session, which makes
    /// the will due now (3.1.3.2.2).
    public mutating func takeOver(willCancelled: Bool) -> Action {
        takenOver = true
        guard phase == .connected else { return disconnect(reason: .sessionTakenOver, publishWill: true) }
        if willCancelled { willSuppressed = true }
        return disconnect(reason: .sessionTakenOver, publishWill: true)
    }

    /// The channel closed, for whatever reason.
    public mutating func closed() {
        phase = .closing
    }
}
