import MeridianBrokerCore
import MeridianMQTT
import NIOCore

/// What travels on an inter-node link once it is open, in MQTT 5 framing: route updates on
/// ``routesTopic``, requests for a route snapshot on ``snapshotRequestTopic``, and forwarded
/// messages under their own topic, exactly as this node's session of the peer (``PeerSession``)
/// releases them, with its packet identifiers and QoS 1/2 exchanges: a PUBACK or PUBREC from the
/// peer means it has routed the message and committed what it stored. Pure: packets in, meanings out.
public enum PeerWire {
    public static let routesTopic = "$meridian/routes"
    public static let snapshotRequestTopic = "$meridian/routes/snapshot"
    public static let sessionsTopic = "$meridian/sessions"

    // MARK: - Route updates

    /// A route update as a PUBLISH (QoS 0: the link is one ordered TCP stream, and a gap is
    /// repaired with a snapshot).
    public static func publish(_ update: RouteUpdate) -> MQTTPublish {
        var buffer = ByteBuffer()
        switch update.change {
        case .add(let filter):
            buffer.writeInteger(UInt8(0))
            header(update, into: &buffer)
            writeString(filter, into: &buffer)
        case .remove(let filter):
            buffer.writeInteger(UInt8(1))
            header(update, into: &buffer)
            writeString(filter, into: &buffer)
        case .snapshot(let filters):
            buffer.writeInteger(UInt8(2))
            header(update, into: &buffer)
            buffer.writeInteger(UInt32(filters.count))
            for filter in filters.sorted() { writeString(filter, into: &buffer) }
        }
        return MQTTPublish(topic: routesTopic, payload: buffer, qos: .atMostOnce, retain: false, dup: false, packetIdentifier: nil)
    }

    /// Reads a route update; nil for bytes that are not one (the link is then closed).
    public static func routeUpdate(from payload: ByteBuffer) -> RouteUpdate? {
        var buffer = payload
        guard let kind = buffer.readInteger(as: UInt8.self),
            let incarnation = buffer.readInteger(as: Int64.self),
            let sequence = buffer.readInteger(as: UInt64.self),
            let node = readString(&buffer)
        else { return nil }
        let change: RouteUpdate.Change
        switch kind {
        case 0, 1:
            guard let filter = readString(&buffer) else { return nil }
            change = kind == 0 ? .add(filter) : .remove(filter)
        case 2:
            guard let count = buffer.readInteger(as: UInt32.self), Int(count) <= buffer.readableBytes / 2 else { return nil }
            var filters = Set<String>()
            for _ in 0..<count {
                guard let filter = readString(&buffer) else { return nil }
                filters.insert(filter)
            }
            change = .snapshot(filters)
        default:
            return nil
        }
        guard buffer.readableBytes == 0 else { return nil }
        return RouteUpdate(node: node, incarnation: incarnation, sequence: sequence, change: change)
    }

    /// Asks the peer for a snapshot of its routes (a gap was seen).
    public static let snapshotRequest = MQTTPublish(
        topic: snapshotRequestTopic, payload: ByteBuffer(), qos: .atMostOnce, retain: false, dup: false, packetIdentifier: nil)

    private static func header(_ update: RouteUpdate, into buffer: inout ByteBuffer) {
        buffer.writeInteger(update.incarnation)
        buffer.writeInteger(update.sequence)
        writeString(update.node, into: &buffer)
    }

    /// A string with a 2-byte length, as every part of the link's own messages writes it.
    static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(text.utf8.count))
        buffer.writeString(text)
    }

    static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
        return buffer.readString(length: Int(length))
    }

    /// A flag byte, then the string when there is one (``readOptionalString(_:)``).
    static func writeOptionalString(_ text: String?, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(text == nil ? 0 : 1))
        if let text { writeString(text, into: &buffer) }
    }

    /// A flag byte, then the string when it is 1. - Returns: nil for bytes that are not one; .some(nil) for none.
    static func readOptionalString(_ buffer: inout ByteBuffer) -> String?? {
        switch buffer.readInteger(as: UInt8.self) {
        case 0: return .some(nil)
        case 1: return readString(&buffer).map { .some($0) }
        default: return nil
        }
    }

    // MARK: - Session takeovers

    /// What nodes say to each other about a client id's session (``SessionTakeovers``).
    public enum SessionMessage: Sendable, Hashable {
        /// Requester → the shard's owner: may the client's session be here?
        case claim(SessionClaim)
        /// Owner → another member: end your session of this client id, then answer.
        case evict(SessionClaim)
        /// Member → owner: ended (or had none).
        case evicted(SessionClaim)
        /// Owner → requester: attach it.
        case grant(SessionClaim)
        /// Owner → requester: not granted now; ask again or refuse the CONNECT.
        case refuse(SessionClaim)
        /// Member → owner: my session of this client id belongs to another user; I kept it.
        case denied(SessionClaim)
        /// Owner → requester: the session belongs to another user; refuse the CONNECT (0x87).
        case deny(SessionClaim)
    }

    /// A session message as a PUBLISH (QoS 0: a lost one times out and the client connects again).
    public static func publish(_ message: SessionMessage) -> MQTTPublish {
        let (kind, claim): (UInt8, SessionClaim) =
            switch message {
            case .claim(let claim): (0, claim)
            case .evict(let claim): (1, claim)
            case .evicted(let claim): (2, claim)
            case .grant(let claim): (3, claim)
            case .refuse(let claim): (4, claim)
            case .denied(let claim): (5, claim)
            case .deny(let claim): (6, claim)
            }
        var buffer = ByteBuffer()
        buffer.writeInteger(kind)
        buffer.writeInteger(claim.id)
        buffer.writeInteger(claim.epoch)
        buffer.writeInteger(UInt8(claim.cleanStart ? 1 : 0))
        writeString(claim.requester, into: &buffer)
        writeString(claim.clientIdentifier, into: &buffer)
        writeOptionalString(claim.username, into: &buffer)
        writeOptionalString(claim.stateFrom, into: &buffer)
        return MQTTPublish(topic: sessionsTopic, payload: buffer, qos: .atMostOnce, retain: false, dup: false, packetIdentifier: nil)
    }

    /// Reads a session message; nil for bytes that are not one (the link is then closed).
    public static func sessionMessage(from payload: ByteBuffer) -> SessionMessage? {
        var buffer = payload
        guard let kind = buffer.readInteger(as: UInt8.self),
            let id = buffer.readInteger(as: UInt64.self),
            let epoch = buffer.readInteger(as: Int64.self),
            let cleanStart = buffer.readInteger(as: UInt8.self), cleanStart <= 1,
            let requester = readString(&buffer),
            let clientIdentifier = readString(&buffer),
            let username = readOptionalString(&buffer),
            let stateFrom = readOptionalString(&buffer),
            buffer.readableBytes == 0
        else { return nil }
        let claim = SessionClaim(
            requester: requester, id: id, clientIdentifier: clientIdentifier, epoch: epoch, cleanStart: cleanStart == 1,
            username: username, stateFrom: stateFrom)
        switch kind {
        case 0: return .claim(claim)
        case 1: return .evict(claim)
        case 2: return .evicted(claim)
        case 3: return .grant(claim)
        case 4: return .refuse(claim)
        case 5: return .denied(claim)
        case 6: return .deny(claim)
        default: return nil
        }
    }

    // MARK: - Retained values at link-up

    /// A topic's retained value (or clear) for the exchange at link-up, as the PUBLISH it would be
    /// (QoS 0 on the link, RETAIN set, its properties and remaining expiry), marked with its own QoS
    /// and version (``PeerSession/retainedValueKey``): the peer keeps it if newer, delivers nothing.
    public static func publish(retained topic: String, _ entry: RetainedMessages.Entry, now: NIODeadline) -> MQTTPublish {
        var properties = entry.message?.properties ?? []
        if let remaining = entry.message?.remainingExpiry(at: now) { properties.append(.messageExpiryInterval(max(remaining, 1))) }
        let qos = entry.message?.qos ?? .atMostOnce
        properties.append(.userProperty(PeerSession.retainedValueKey, "\(qos.rawValue) \(entry.version)"))
        return MQTTPublish(
            topic: topic, payload: entry.message?.payload ?? ByteBuffer(), qos: .atMostOnce, retain: true, dup: false,
            packetIdentifier: nil, properties: properties)
    }

    /// Reads the mark of a retained value: its QoS and version.
    static func retainedValue(mark: String) -> (MQTTQoS, RetainedVersion)? {
        guard let space = mark.firstIndex(of: " "), let raw = UInt8(mark[..<space]), let qos = MQTTQoS(rawValue: raw),
            let version = RetainedVersion(String(mark[mark.index(after: space)...]))
        else { return nil }
        return (qos, version)
    }

    // MARK: - What a packet means

    /// A packet the peer sent, read.
    public enum FromPeer: Sendable {
        case routeUpdate(RouteUpdate)
        case snapshotRequest
        case session(SessionMessage)
        /// A persistent session moving here (QoS 1): install it, then PUBACK.
        case sessionState(SessionTransfer, packetIdentifier: UInt16?)
        /// A message the peer forwarded: route it to this node's sessions only — with `sharedGroup`, to
        /// one member of that group, else to the plain subscriptions — then acknowledge it (QoS 1:
        /// PUBACK; QoS 2: PUBREC, and routed only if it is not a resend of an unreleased one: `dup`,
        /// see ``InboundFlow/receivedFromPeer(_:dup:)``).
        case message(BrokerMessage, packetIdentifier: UInt16?, sharedGroup: String?, dup: Bool)
        /// A message the peer forwarded for a session that moved from it to this node (it was on its
        /// way to the peer): for that session only, acknowledged as ``message(_:packetIdentifier:sharedGroup:dup:)``.
        case forMovedSession(BrokerMessage, clientIdentifier: String, packetIdentifier: UInt16?, dup: Bool)
        /// A topic's retained value in the exchange at link-up (nil message: cleared): keep it if newer.
        case retainedValue(topic: String, BrokerMessage?, RetainedVersion)
        /// PUBREL of a QoS 2 message the peer forwarded: answer PUBCOMP.
        case release(UInt16)
        /// PUBACK, PUBREC or PUBCOMP of a message this node forwarded: for this node's session of the peer.
        case acknowledgement(MQTTPacket)
        case ping
        case pong
        /// Close the link: the peer broke the link's protocol.
        case invalid(String)
    }

    public static func read(_ packet: MQTTPacket, from peer: String, now: NIODeadline) -> FromPeer {
        switch packet {
        case .publish(let publish):
            switch publish.topic {
            case routesTopic:
                guard let update = routeUpdate(from: publish.payload), update.node == peer else { return .invalid("malformed route update") }
                return .routeUpdate(update)
            case snapshotRequestTopic:
                return .snapshotRequest
            case sessionsTopic:
                guard let message = sessionMessage(from: publish.payload) else { return .invalid("malformed session message") }
                return .session(message)
            case SessionTransfer.topic:
                guard let transfer = SessionTransfer(payload: publish.payload, now: now) else { return .invalid("malformed session transfer") }
                return .sessionState(transfer, packetIdentifier: publish.packetIdentifier)
            default:
                var publish = publish
                var group: String?
                var version: String?
                var value: String?
                var identity: String?
                var movedSession: String?
                if !publish.properties.isEmpty {
                    publish.properties.list.removeAll { property in
                        guard case .userProperty(let key, let text) = property else { return false }
                        switch key {
                        case PeerSession.sharedGroupKey: group = text
                        case PeerSession.retainedVersionKey: version = text
                        case PeerSession.retainedValueKey: value = text
                        case PeerSession.identityKey: identity = text
                        case PeerSession.movedSessionKey: movedSession = text
                        default: return false
                        }
                        return true
                    }
                }
                if let value {
                    guard publish.retain, let (qos, version) = retainedValue(mark: value) else { return .invalid("malformed retained value") }
                    publish.qos = qos
                    var message = BrokerMessage(publish: publish, origin: nil, now: now)
                    message.fromPeer = true
                    return .retainedValue(topic: publish.topic, publish.payload.readableBytes == 0 ? nil : message, version)
                }
                var message = BrokerMessage(publish: publish, origin: nil, now: now)
                message.fromPeer = true
                message.peerIdentity = identity
                if let movedSession {
                    return .forMovedSession(message, clientIdentifier: movedSession, packetIdentifier: publish.packetIdentifier, dup: publish.dup)
                }
                if publish.retain, let version {
                    guard let parsed = RetainedVersion(version) else { return .invalid("malformed retained version") }
                    message.retainedVersion = parsed
                }
                return .message(message, packetIdentifier: publish.packetIdentifier, sharedGroup: group, dup: publish.dup)
            }
        case .puback, .pubrec, .pubcomp:
            return .acknowledgement(packet)
        case .pubrel(let ack):
            return .release(ack.packetIdentifier)
        case .pingreq:
            return .ping
        case .pingresp:
            return .pong
        default:
            return .invalid("unexpected \(packet.type) packet")
        }
    }

    /// What this node's session of the peer sends its link's local side: what goes to the peer.
    public enum FromSession: Sendable, Equatable {
        /// A forwarded message (its packet identifier is the session's) or a PUBREL: write it to the peer.
        case toPeer(MQTTPacket)
        /// The session refused the link's CONNECT (a fenced node, say) or ended it.
        case closed(MQTTReasonCode)
        /// SUBACK, UNSUBACK, CONNACK success, PINGRESP: nothing to do.
        case none
    }

    public static func read(fromSession packet: MQTTPacket) -> FromSession {
        switch packet {
        case .publish, .pubrel:
            return .toPeer(packet)
        case .connack(let connack):
            return connack.reasonCode == .success ? .none : .closed(connack.reasonCode)
        case .disconnect(let disconnect):
            return .closed(disconnect.reasonCode)
        default:
            return .none
        }
    }

    /// The subscriptions that make this node's session of a peer follow the peer's routes.
    public static func subscriptionChanges(from current: Set<String>, to wanted: Set<String>) -> (subscribe: [String], unsubscribe: [String]) {
        (wanted.subtracting(current).sorted(), current.subtracting(wanted).sorted())
    }
}
