import MeridianMQTT
import NIOCore

/// Remote to local: a remote message is published locally under the remote's own packet
/// identifier, so the broker's durable QoS 2 state for the bridge's session makes a resend after
/// a restart a duplicate it recognises (exactly once across edge restarts).
extension BridgeLink {
    func inboundFromRemote(_ publish: MQTTPublish) {
        received += 1
        guard let mapped = map.local(forRemoteTopic: publish.topic) else {
            if let id = publish.packetIdentifier {
                remote?.send(publish.qos == .exactlyOnce ? .pubrec(MQTTAck(packetIdentifier: id)) : .puback(MQTTAck(packetIdentifier: id)))
            }
            return
        }
        var properties = publish.properties
        properties.remove(.subscriptionIdentifier)
        properties.remove(.topicAlias)
        let message = MQTTPublish(
            topic: mapped.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain, dup: publish.dup,
            packetIdentifier: publish.packetIdentifier, properties: properties
        )
        if let id = publish.packetIdentifier { inbound[id] = publish.qos }
        local?.send(.publish(message))
        local?.flush()
    }

    /// The local broker's PUBACK (`final`) or PUBREC for a message the bridge published locally.
    func inboundAcknowledged(_ id: UInt16, final: Bool, reason: MQTTReasonCode) {
        guard inbound[id] != nil else { return }
        if final {
            inbound[id] = nil
            remote?.send(.puback(MQTTAck(packetIdentifier: id)))
        } else {
            remote?.send(.pubrec(MQTTAck(packetIdentifier: id)))
        }
        remote?.flush()
    }

    /// The remote released a QoS 2 message: release it locally; the local PUBCOMP completes both.
    /// After an edge restart the PUBREL may be the first the bridge hears of the message: it is
    /// released locally all the same, since the broker kept its QoS 2 state in the store.
    func inboundReleased(_ id: UInt16) {
        inbound[id] = .exactlyOnce
        local?.send(.pubrel(MQTTAck(packetIdentifier: id)))
        local?.flush()
    }
}
