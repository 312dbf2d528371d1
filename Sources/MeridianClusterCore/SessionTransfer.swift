import MeridianBrokerCore
import MeridianMQTT
import NIOCore

/// A persistent session moving to the node that claimed it (``SessionTakeovers``): what the old
/// node held — subscriptions, expiry, owner and the messages it still owed the client — sent as one
/// QoS 1 message through the old node's session of the new one (``PeerSession``), so it is stored
/// before the old session's rows go and resent after a broken link; the new node acknowledges it
/// once it has installed (and committed) the session.
///
/// Pure: the wire form. Each message travels as an MQTT 5 PUBLISH encoded by the codec, with its
/// remaining expiry; subscriptions as filter, options byte and identifier; messages in flight
/// (format 2) with their packet identifier and whether their PUBREC came.
public struct SessionTransfer: Sendable {
    public static let topic = "$meridian/sessions/state"

    /// The claim it answers (the new node's CONNECT waits for it).
    public var claimID: UInt64
    public var session: TakenSession

    public init(claimID: UInt64, session: TakenSession) {
        self.claimID = claimID
        self.session = session
    }

    /// 2 adds the messages in flight; a transfer of format 1 (queued messages only) is still read.
    private static let format: UInt8 = 2

    /// The transfer as a message for the peer session of the new node.
    public func message(now: NIODeadline) -> BrokerMessage {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.format)
        buffer.writeInteger(claimID)
        PeerWire.writeString(session.clientIdentifier, into: &buffer)
        buffer.writeInteger(session.expiryInterval)
        buffer.writeInteger(session.protocolVersion.rawValue)
        PeerWire.writeOptionalString(session.username, into: &buffer)
        buffer.writeInteger(UInt32(session.subscriptions.count))
        for subscription in session.subscriptions {
            PeerWire.writeString(subscription.filter, into: &buffer)
            buffer.writeInteger(subscription.options.byte(version: .v5))
            buffer.writeInteger(subscription.identifier ?? 0)
        }
        let encoder = MQTTPacketEncoder(version: .v5)
        func write(_ delivery: Delivery) {
            var properties = delivery.message.properties
            properties.messageExpiryInterval = delivery.message.remainingExpiry(at: now)
            for identifier in delivery.subscriptionIdentifiers { properties.append(.subscriptionIdentifier(identifier)) }
            if let identity = delivery.message.peerIdentity { properties.append(.userProperty(PeerSession.identityKey, identity)) }
            let publish = MQTTPublish(
                topic: delivery.message.topic, payload: delivery.message.payload, qos: delivery.qos, retain: delivery.retain,
                dup: false, packetIdentifier: delivery.qos == .atMostOnce ? nil : 1, properties: properties)
            var packet = ByteBuffer()
            try? encoder.encode(data: .publish(publish), out: &packet)
            buffer.writeInteger(UInt32(packet.readableBytes))
            buffer.writeImmutableBuffer(packet)
        }
        buffer.writeInteger(UInt32(session.deliveries.count))
        for delivery in session.deliveries { write(delivery) }
        buffer.writeInteger(UInt32(session.inflight.count))
        for entry in session.inflight {
            buffer.writeInteger(entry.packetIdentifier)
            buffer.writeInteger(UInt8(entry.released ? 1 : 0))
            write(entry.delivery)
        }
        return BrokerMessage(topic: Self.topic, payload: buffer, qos: .atLeastOnce, retain: false, properties: [], expiresAt: nil, origin: nil)
    }

    /// Reads a transfer; nil for bytes that are not one.
    public init?(payload: ByteBuffer, now: NIODeadline) {
        var buffer = payload
        guard let format = buffer.readInteger(as: UInt8.self), format == 1 || format == Self.format,
            let claimID = buffer.readInteger(as: UInt64.self),
            let clientIdentifier = PeerWire.readString(&buffer),
            let expiry = buffer.readInteger(as: UInt32.self),
            let version = buffer.readInteger(as: UInt8.self).flatMap(MQTTProtocolVersion.init(rawValue:)),
            let username = PeerWire.readOptionalString(&buffer)
        else { return nil }
        guard let subscriptionCount = buffer.readInteger(as: UInt32.self), Int(subscriptionCount) <= buffer.readableBytes / 7 else { return nil }
        var subscriptions: [TakenSession.Subscription] = []
        for _ in 0..<subscriptionCount {
            guard let filter = PeerWire.readString(&buffer), let byte = buffer.readInteger(as: UInt8.self),
                let options = try? MQTTSubscriptionOptions(byte: byte, version: .v5),
                let identifier = buffer.readInteger(as: UInt32.self)
            else { return nil }
            subscriptions.append(.init(filter: filter, options: options, identifier: identifier == 0 ? nil : identifier))
        }
        guard let messageCount = buffer.readInteger(as: UInt32.self), Int(messageCount) <= buffer.readableBytes / 4 else { return nil }
        var parser = MQTTPacketParser(role: .client, protocolVersion: .v5)
        func read() -> Delivery? {
            guard let length = buffer.readInteger(as: UInt32.self), var packet = buffer.readSlice(length: Int(length)),
                case .publish(var publish)? = try? parser.next(from: &packet), packet.readableBytes == 0
            else { return nil }
            let identifiers = publish.properties.list.compactMap { property -> UInt32? in
                if case .subscriptionIdentifier(let identifier) = property { return identifier }
                return nil
            }
            var identity: String?
            publish.properties.list.removeAll { property in
                guard case .userProperty(PeerSession.identityKey, let value) = property else { return false }
                identity = value
                return true
            }
            var message = BrokerMessage(publish: publish, origin: nil, now: now)
            message.peerIdentity = identity
            return Delivery(message: message, qos: publish.qos, retain: publish.retain, subscriptionIdentifiers: identifiers)
        }
        var deliveries: [Delivery] = []
        for _ in 0..<messageCount {
            guard let delivery = read() else { return nil }
            deliveries.append(delivery)
        }
        var inflight: [TakenSession.InFlight] = []
        if format >= 2 {
            guard let inflightCount = buffer.readInteger(as: UInt32.self), Int(inflightCount) <= buffer.readableBytes / 7 else { return nil }
            for _ in 0..<inflightCount {
                guard let packetIdentifier = buffer.readInteger(as: UInt16.self), packetIdentifier != 0,
                    let released = buffer.readInteger(as: UInt8.self), released <= 1,
                    let delivery = read(), delivery.qos != .atMostOnce,
                    !inflight.contains(where: { $0.packetIdentifier == packetIdentifier })
                else { return nil }
                inflight.append(.init(packetIdentifier: packetIdentifier, delivery: delivery, released: released == 1))
            }
        }
        guard buffer.readableBytes == 0 else { return nil }
        self.init(claimID: claimID, session: TakenSession(
            clientIdentifier: clientIdentifier, expiryInterval: expiry, protocolVersion: version, username: username,
            subscriptions: subscriptions, inflight: inflight, deliveries: deliveries))
    }
}
