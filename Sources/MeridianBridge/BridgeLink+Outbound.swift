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
        // The remote's Maximum QoS and Retain Available (MQTT 5 CONNACK) are honoured.
        message.qos = min(message.qos, remoteMaximumQoS)
        if !remoteRetainAvailable { message.retain = false }
        let packetLimit = [settings.maxPacketSize > 0 ? settings.maxPacketSize : nil, remoteMaximumPacketSize].compactMap { $0 }.min()
        if let packetLimit, message.encodedSize(version: remoteVersion) > packetLimit {
            // Larger than bridge_max_packet_size: never sendable, so dropped (counted) rather than retried.
            dropped += 1
            server.recordQueueDrop(clientIdentifier: localClientID)
            logger.warning("message larger than the link's maximum packet size dropped", metadata: ["topic": "\(publish.topic)"])
            acknowledgeLocally(localID: publish.packetIdentifier, qos: publish.qos)
            return
        }
        if message.qos == .atMostOnce {
            if remoteReady {
                remote?.send(.publish(message))
                forwarded += 1
            } else if settings.queueQoS0 {
                bufferQoS0(message)
            }
            acknowledgeLocally(localID: publish.packetIdentifier, qos: publish.qos)
            return
        }
        message.dup = false
        if let localID = publish.packetIdentifier { heldLocalIDs.insert(localID) }
        waiting.append(Outbound(localID: publish.packetIdentifier, localQoS: publish.qos, publish: message))
        pump()
    }

    /// Keeps a QoS 0 message for the remote's return, within the bridge's bounds and overflow policy;
    /// every drop is counted in `$SYS` and logged like the broker's own.
    private func bufferQoS0(_ message: MQTTPublish) {
        let size = message.topic.utf8.count + message.payload.readableBytes
        let full = (settings.maxQueuedMessages > 0 && qos0Buffer.count >= settings.maxQueuedMessages)
            || (settings.maxQueuedBytes > 0 && qos0BufferBytes + size > settings.maxQueuedBytes)
        if full {
            dropped += 1
            server.recordQueueDrop(clientIdentifier: localClientID)
            guard settings.queueOverflow == .dropOldest, let oldest = qos0Buffer.popFirst() else { return }
            qos0BufferBytes -= oldest.topic.utf8.count + oldest.payload.readableBytes
        }
        qos0Buffer.append(message)
        qos0BufferBytes += size
    }

    /// Window capacity: the bridge's drain window, capped by the remote's Receive Maximum.
    var window: Int { max(1, min(settings.drainMaxInflight, remoteReceiveMaximum, congestionLimit)) }

    /// Sends waiting messages while the remote is up, the window has room and `drain_rate` allows.
    func pump() {
        guard remoteReady, let remote else { return }
        while inflight.count < window, let first = waiting.first {
            guard takeRateTokens(bytes: first.publish.payload.readableBytes) else { break }
            var next = waiting.removeFirst()
            let id = allocateRemoteID()
            next.publish.packetIdentifier = id
            inflight[id] = next
            inflightOrder.append(id)
            remote.send(.publish(next.publish))
            forwarded += 1
        }
        remote.flush()
    }

    /// Takes one message and `bytes` from the `drain_rate` buckets, or schedules the next pump for
    /// when they will have refilled. Always true without a rate.
    private func takeRateTokens(bytes: Int) -> Bool {
        let messageRate = Double(settings.drainRateMessages), byteRate = Double(settings.drainRateBytes)
        guard messageRate > 0 || byteRate > 0 else { return true }
        let now = NIODeadline.now()
        let elapsed = Double((now - rateRefilledAt).nanoseconds) / 1e9
        rateRefilledAt = now
        if messageRate > 0 { rateTokens.messages = min(messageRate, rateTokens.messages + elapsed * messageRate) }
        if byteRate > 0 { rateTokens.bytes = min(max(byteRate, Double(bytes)), rateTokens.bytes + elapsed * byteRate) }
        let enoughMessages = messageRate == 0 || rateTokens.messages >= 1
        let enoughBytes = byteRate == 0 || rateTokens.bytes >= Double(bytes)
        if enoughMessages && enoughBytes {
            if messageRate > 0 { rateTokens.messages -= 1 }
            if byteRate > 0 { rateTokens.bytes -= Double(bytes) }
            return true
        }
        if !ratePumpScheduled {
            var wait = 0.0
            if messageRate > 0 && !enoughMessages { wait = max(wait, (1 - rateTokens.messages) / messageRate) }
            if byteRate > 0 && !enoughBytes { wait = max(wait, (Double(bytes) - rateTokens.bytes) / byteRate) }
            ratePumpScheduled = true
            loop.scheduleTask(in: .nanoseconds(Int64(wait * 1e9) + 1_000_000)) { [self] in
                ratePumpScheduled = false
                pump()
            }
        }
        return false
    }

    private func allocateRemoteID() -> UInt16 {
        while true {
            let id = nextRemoteID
            nextRemoteID = nextRemoteID == .max ? 1 : nextRemoteID + 1
            if inflight[id] == nil { return id }
        }
    }

    /// After a reconnect: what was in flight goes again first, with DUP and the same packet
    /// identifier (I2), or as PUBREL when the remote had already sent PUBREC.
    func resendInflight() {
        guard let remote else { return }
        for id in inflightOrder {
            guard let entry = inflight[id] else { continue }
            if entry.released {
                remote.send(.pubrel(MQTTAck(packetIdentifier: id)))
            } else {
                var again = entry.publish
                again.dup = true
                remote.send(.publish(again))
            }
        }
        while let message = qos0Buffer.popFirst() { remote.send(.publish(message)) }
        qos0BufferBytes = 0
    }

    /// The remote's PUBACK, PUBREC or PUBCOMP for a message the bridge sent.
    func remoteAcknowledged(_ ack: MQTTAck, kind: MQTTPacketType) {
        guard var entry = inflight[ack.packetIdentifier] else { return }
        if ack.reasonCode == .quotaExceeded {
            // The remote is overloaded: halve the window; successes widen it again.
            congestionLimit = max(1, window / 2)
        } else if congestionLimit != Int.max {
            congestionLimit = congestionLimit + 1 >= settings.drainMaxInflight ? Int.max : congestionLimit + 1
        }
        if ack.reasonCode.isFailure {
            // Refused by the remote: counted and logged, never retried in a loop; the row goes.
            refusedByRemote += 1
            logger.warning("remote refused a message", metadata: ["topic": "\(entry.publish.topic)", "reason": "\(ack.reasonCode)"])
            complete(ack.packetIdentifier, entry)
            return
        }
        switch kind {
        case .puback:
            complete(ack.packetIdentifier, entry)
        case .pubrec:
            entry.released = true
            inflight[ack.packetIdentifier] = entry
            remote?.send(.pubrel(MQTTAck(packetIdentifier: ack.packetIdentifier)))
        case .pubcomp:
            complete(ack.packetIdentifier, entry)
        default:
            break
        }
    }

    private func complete(_ id: UInt16, _ entry: Outbound) {
        inflight[id] = nil
        if let index = inflightOrder.firstIndex(of: id) { inflightOrder.remove(at: index) }
        if let localID = entry.localID { heldLocalIDs.remove(localID) }
        acknowledgeLocally(localID: entry.localID, qos: entry.localQoS)
        pump()
    }

    /// Tells the local broker the bridge is done with a message (PUBACK, or PUBREC for QoS 2,
    /// whose PUBREL is answered with PUBCOMP), so the broker deletes it from the outbox.
    func acknowledgeLocally(localID: UInt16?, qos: MQTTQoS) {
        guard let localID, let local else { return }
        switch qos {
        case .atMostOnce: break
        case .atLeastOnce: local.send(.puback(MQTTAck(packetIdentifier: localID)))
        case .exactlyOnce: local.send(.pubrec(MQTTAck(packetIdentifier: localID)))
        }
        local.flush()
    }
}
