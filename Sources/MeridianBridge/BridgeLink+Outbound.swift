import MeridianBridgeCore
import MeridianMQTT
import NIOCore

/// Local to remote: messages the local session delivers to the bridge go to the remote through a
/// window; each is acknowledged locally only once the remote acknowledged it (I2).
extension BridgeLink {
    func outboundFromLocal(_ publish: MQTTPublish) {
        if let localID = publish.packetIdentifier, heldLocalIDs.contains(localID) { return }  // local resend
        guard let mapped = map.remote(forLocalTopic: publish.topic) else {
            acknowledgeLocally(localID: publish.packetIdentifier, qos: publish.qos)
            return
        }
        var properties = publish.properties
        properties.remove(.subscriptionIdentifier)
        properties.remove(.topicAlias)
        var message = MQTTPublish(
            topic: mapped.topic, payload: publish.payload, qos: min(publish.qos, mapped.qos),
            retain: settings.outgoingRetain && publish.retain, properties: remoteVersion == .v5 ? properties : []
        )
        if settings.maxPacketSize > 0 && message.encodedSize(version: remoteVersion) > settings.maxPacketSize {
            // Larger than bridge_max_packet_size: never sendable, so dropped (counted) rather than retried.
            countDrop(topic: publish.topic)
            acknowledgeLocally(localID: publish.packetIdentifier, qos: publish.qos)
            return
        }
        if message.qos == .atMostOnce {
            // QoS 0 takes no slot in the window: sent now, or kept in memory for the remote's return.
            message.retain = message.retain && remoteRetainAvailable
            if remoteReady {
                if let limit = remoteMaximumPacketSize, message.encodedSize(version: remoteVersion) > limit {
                    countDrop(topic: publish.topic)
                } else {
                    remote?.send(.publish(message))
                    forwarded += 1
                }
            } else if settings.queueQoS0 {
                bufferQoS0(message)
            }
            acknowledgeLocally(localID: publish.packetIdentifier, qos: publish.qos)
            return
        }
        if let localID = publish.packetIdentifier { heldLocalIDs.insert(localID) }
        lastOutboxID += 1
        held[lastOutboxID] = Held(localID: publish.packetIdentifier, localQoS: publish.qos, publish: message)
        waiting.append(lastOutboxID)
        pump()
    }

    private func countDrop(topic: String) {
        server.recordDrop(.tooLarge, clientIdentifier: localClientID)
        logger.warning("message larger than the link's maximum packet size dropped", metadata: ["topic": "\(topic)"])
    }

    /// Keeps a QoS 0 message for the remote's return, within the bridge's bounds and overflow policy;
    /// every drop is counted in `$SYS` and logged like the broker's own.
    private func bufferQoS0(_ message: MQTTPublish) {
        let size = message.topic.utf8.count + message.payload.readableBytes
        let full = (settings.maxQueuedMessages > 0 && qos0Buffer.count >= settings.maxQueuedMessages)
            || (settings.maxQueuedBytes > 0 && qos0BufferBytes + size > settings.maxQueuedBytes)
        if full {
            server.recordDrop(.queueFull, clientIdentifier: localClientID)
            guard settings.queueOverflow == .dropOldest, let oldest = qos0Buffer.popFirst() else { return }
            qos0BufferBytes -= oldest.topic.utf8.count + oldest.payload.readableBytes
        }
        qos0Buffer.append(message)
        qos0BufferBytes += size
    }

    /// Hands waiting messages to the window while the remote is up, it has room and `drain_rate`
    /// allows, and sends what it says.
    func pump() {
        guard remoteReady, remote != nil else { return }
        var batch: [ForwardingWindow.Message] = []
        var room = forwarding.wanted
        while room > 0, let id = waiting.first, let message = held[id]?.publish {
            guard takeRateTokens(bytes: message.payload.readableBytes) else { break }
            waiting.removeFirst()
            room -= 1
            batch.append(ForwardingWindow.Message(
                id: id, qos: message.qos, retain: message.retain, encodedSize: message.encodedSize(version: remoteVersion)))
        }
        if !batch.isEmpty { execute(forwarding.accept(batch)) }
    }

    /// Takes one message and `bytes` from the `drain_rate` buckets, or schedules the next pump for
    /// when they will have refilled. Always true without a rate.
    private func takeRateTokens(bytes: Int) -> Bool {
        guard messageRate != nil || byteRate != nil else { return true }
        let now = clock.now
        let enoughMessages = messageRate?.has(1, now: now) ?? true
        let enoughBytes = byteRate?.has(bytes, now: now) ?? true
        if enoughMessages && enoughBytes {
            _ = messageRate?.take(1, now: now)
            _ = byteRate?.take(bytes, now: now)
            return true
        }
        if !ratePumpScheduled {
            let wait = max(messageRate?.wait(for: 1, now: now) ?? .zero, byteRate?.wait(for: bytes, now: now) ?? .zero)
            ratePumpScheduled = true
            loop.scheduleTask(in: wait + .milliseconds(1)) { [self] in
                ratePumpScheduled = false
                pump()
            }
        }
        return false
    }

    /// The link is up (CONNACK): what was in flight goes again first, with DUP and the same packet
    /// identifier (I2), or as PUBREL when the remote had already sent PUBREC; then the window fills.
    func forwardingConnected(_ connack: MQTTConnack) {
        execute(forwarding.connected(ForwardingWindow.RemoteLimits(connack: connack)))
        if let remote {
            while let message = qos0Buffer.popFirst() { remote.send(.publish(message)) }
        }
        qos0BufferBytes = 0
        pump()
    }

    /// The remote's PUBACK, PUBREC or PUBCOMP for a message the bridge sent.
    func remoteAcknowledged(_ ack: MQTTAck, kind: MQTTPacketType) {
        switch kind {
        case .puback: execute(forwarding.pubackReceived(ack))
        case .pubrec: execute(forwarding.pubrecReceived(ack))
        case .pubcomp: execute(forwarding.pubcompReceived(ack))
        default: return
        }
        pump()
    }

    /// Carries out the window's actions: sends, PUBRELs, and the local acknowledgements that delete
    /// a message from the outbox once the remote has it (or refused it, or it can never be sent).
    private func execute(_ actions: [ForwardingWindow.Action]) {
        guard !actions.isEmpty else { return }
        for action in actions {
            switch action {
            case .send(let send):
                guard var publish = held[send.id]?.publish else { continue }
                publish.packetIdentifier = send.packetIdentifier
                publish.qos = send.qos
                publish.retain = send.retain
                publish.dup = send.dup
                remote?.send(.publish(publish))
                if !send.dup { forwarded += 1 }
            case .sendPubrel(let packetIdentifier, _):
                remote?.send(.pubrel(MQTTAck(packetIdentifier: packetIdentifier)))
            case .dropped(let id, _):
                countDrop(topic: held[id]?.publish.topic ?? "")
            case .refused(let id, let reason):
                // Refused by the remote: counted and logged, never retried in a loop; the row goes.
                refusedByRemote += 1
                logger.warning("remote refused a message", metadata: ["topic": "\(held[id]?.publish.topic ?? "")", "reason": "\(reason)"])
            case .delete(let ids):
                for id in ids {
                    guard let entry = held.removeValue(forKey: id) else { continue }
                    if let localID = entry.localID { heldLocalIDs.remove(localID) }
                    acknowledgeLocally(localID: entry.localID, qos: entry.localQoS, flush: false)
                }
                local?.flush()
            }
        }
        remote?.flush()
    }

    /// Tells the local broker the bridge is done with a message (PUBACK, or PUBREC for QoS 2,
    /// whose PUBREL is answered with PUBCOMP), so the broker deletes it from the outbox.
    func acknowledgeLocally(localID: UInt16?, qos: MQTTQoS, flush: Bool = true) {
        guard let localID, let local else { return }
        switch qos {
        case .atMostOnce: break
        case .atLeastOnce: local.send(.puback(MQTTAck(packetIdentifier: localID)))
        case .exactlyOnce: local.send(.pubrec(MQTTAck(packetIdentifier: localID)))
        }
        if flush { local.flush() }
    }
}
