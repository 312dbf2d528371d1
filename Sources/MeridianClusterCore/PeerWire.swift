import MeridianBrokerCore
import MeridianMQTT
import NIOCore

/// What travels on an inter-node link once it is open, in MQTT 5 PUBLISH framing: route updates
/// on ``routesTopic``, requests for a route snapshot on ``snapshotRequestTopic``, and forwarded
/// messages under their own topic with an envelope of user properties. Pure: values in, packets out.
///
/// A forwarded message crosses the link at QoS 0 or 1: the link's PUBACK means the receiving node
/// has routed it and committed what it stored. Its QoS 2 is carried in the envelope and restored on
/// arrival; the envelope's identity lets the receiver drop a copy resent after a reconnect.
public enum PeerWire {
    public static let routesTopic = "$meridian/routes"
    public static let snapshotRequestTopic = "$meridian/routes/snapshot"
    static let qosKey = "meridian-node-qos"
    static let idKey = "meridian-node-id"

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

    private static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(text.utf8.count))
        buffer.writeString(text)
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
        return buffer.readString(length: Int(length))
    }

    // MARK: - Forwarded messages

    /// The PUBLISH that forwards `message` (without packet identifier): its topic, payload, retain
    /// flag and properties, the remaining expiry, and the envelope (its QoS when 2, and `id`).
    public static func forward(_ message: BrokerMessage, id: String, now: NIODeadline) -> MQTTPublish {
        var properties = message.properties
        if let remaining = message.remainingExpiry(at: now) { properties.append(.messageExpiryInterval(remaining)) }
        if message.qos == .exactlyOnce { properties.append(.userProperty(qosKey, "2")) }
        if message.qos != .atMostOnce { properties.append(.userProperty(idKey, id)) }
        return MQTTPublish(
            topic: message.topic, payload: message.payload, qos: min(message.qos, .atLeastOnce), retain: message.retain,
            dup: false, packetIdentifier: nil, properties: properties)
    }

    /// A forwarded message as it arrived: the message to route on this node only (envelope removed,
    /// QoS restored) and its identity, if it has one.
    public static func received(_ publish: MQTTPublish, now: NIODeadline) -> (message: BrokerMessage, id: String?) {
        var publish = publish
        var id: String?
        var qos = publish.qos
        if !publish.properties.isEmpty {
            publish.properties.list.removeAll { property in
                guard case .userProperty(let key, let value) = property else { return false }
                if key == qosKey {
                    if value == "2" { qos = .exactlyOnce }
                    return true
                }
                if key == idKey {
                    id = value
                    return true
                }
                return false
            }
        }
        publish.qos = qos
        var message = BrokerMessage(publish: publish, origin: nil, now: now)
        message.fromPeer = true
        return (message, id)
    }
}
