import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import Testing

/// Transcripts of the server-to-client QoS flow, with time passed in.
@Suite struct OutboundFlowTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func delivery(_ n: Int, qos: MQTTQoS = .atLeastOnce, expiresAt: NIODeadline? = nil, shared: String? = nil) -> Delivery {
        Delivery(
            message: BrokerMessage(topic: "t/\(n)", payload: ByteBuffer(string: "m\(n)"), qos: qos, retain: false, expiresAt: expiresAt),
            qos: qos, retain: false, sharedFilter: shared
        )
    }

    func sentID(_ offer: OutboundFlow.Offer) -> UInt16? {
        if case .send(let publish) = offer { return publish.packetIdentifier }
        return nil
    }

    @Test func windowBoundsInflightAndAcksReleaseQueued() {
        var flow = OutboundFlow(limits: .init(maxQueuedMessages: 10, maxInflightMessages: 2))
        do { let result = (sentID(flow.offer(delivery(1), online: true, now: t0)) == 1); #expect(result) }
        do { let result = (sentID(flow.offer(delivery(2), online: true, now: t0)) == 2); #expect(result) }
        guard case .queued = flow.offer(delivery(3), online: true, now: t0) else { Issue.record("not queued"); return }
        do { let result = (flow.acknowledge(puback: 1)); #expect(result) }
        do { let result = (!flow.acknowledge(puback: 1)); #expect(result) }
        let next = flow.drain(now: t0) { _ in }
        #expect(next.map(\.topic) == ["t/3"])
        #expect(next.first?.packetIdentifier == 3)
    }

    @Test func clientReceiveMaximumNarrowsTheWindow() {
        var flow = OutboundFlow(limits: .init(maxInflightMessages: 20))
        flow.clientReceiveMaximum = 1
        do { let result = (sentID(flow.offer(delivery(1), online: true, now: t0)) == 1); #expect(result) }
        guard case .queued = flow.offer(delivery(2), online: true, now: t0) else { Issue.record("not queued"); return }
    }

    @Test func queueBoundDropsAndCounts() {
        var flow = OutboundFlow(limits: .init(maxQueuedMessages: 2))
        _ = flow.offer(delivery(1), online: false, now: t0)
        _ = flow.offer(delivery(2), online: false, now: t0)
        guard case .dropped(.queueFull) = flow.offer(delivery(3), online: false, now: t0) else { Issue.record("not dropped"); return }
        do { let result = (flow.queuedCount == 2); #expect(result) }
    }

    @Test func qos0ForOfflineSessionIsQueuedOnlyWhenConfigured() {
        var flow = OutboundFlow(limits: .init(queueQoS0Messages: false))
        guard case .dropped(.offlineQoS0) = flow.offer(delivery(1, qos: .atMostOnce), online: false, now: t0) else {
            Issue.record("queued"); return
        }
        var queueing = OutboundFlow(limits: .init(queueQoS0Messages: true))
        guard case .queued = queueing.offer(delivery(1, qos: .atMostOnce), online: false, now: t0) else {
            Issue.record("not queued"); return
        }
    }

    @Test func qos2FlowResendsPublishThenPubrelInOrder() {
        var flow = OutboundFlow(limits: .init())
        do { let result = (sentID(flow.offer(delivery(1, qos: .exactlyOnce), online: true, now: t0)) == 1); #expect(result) }
        do { let result = (sentID(flow.offer(delivery(2, qos: .exactlyOnce), online: true, now: t0)) == 2); #expect(result) }
        do { let result = (flow.acknowledge(pubrec: 1, reasonCode: .success)); #expect(result) }
        // Reconnect: message 1 was received (PUBREL again), message 2 was not (PUBLISH with DUP).
        let resend = flow.resend(now: t0)
        #expect(resend.count == 2)
        #expect(resend[0] == .pubrel(MQTTAck(packetIdentifier: 1)))
        guard case .publish(let again) = resend[1] else { Issue.record("no publish"); return }
        #expect(again.dup && again.packetIdentifier == 2 && again.topic == "t/2")
        do { let result = (flow.acknowledge(pubcomp: 1)); #expect(result) }
        do { let result = (!flow.acknowledge(pubcomp: 1)); #expect(result) }
    }

    @Test func expiredMessagesAreDroppedAndRemainingExpiryIsForwarded() {
        var flow = OutboundFlow(limits: .init())
        let expiresAt = t0 + .seconds(10)
        _ = flow.offer(delivery(1, expiresAt: expiresAt), online: false, now: t0)
        _ = flow.offer(delivery(2, expiresAt: t0 + .seconds(100)), online: false, now: t0)
        var dropped: [DropReason] = []
        let sent = flow.drain(now: t0 + .seconds(20)) { dropped.append($0) }
        #expect(dropped == [.expired])
        #expect(sent.map(\.topic) == ["t/2"])
        #expect(sent.first?.properties.messageExpiryInterval == 80)
    }

    @Test func tooLargeForClientIsDropped() {
        var flow = OutboundFlow(limits: .init())
        flow.clientMaximumPacketSize = 8
        guard case .dropped(.tooLarge) = flow.offer(delivery(1), online: true, now: t0) else { Issue.record("sent"); return }
        do { let result = (flow.inflight.isEmpty); #expect(result) }
    }

    @Test func sharedDeliveriesAreTakenBackForRedelivery() {
        var flow = OutboundFlow(limits: .init(maxInflightMessages: 1))
        _ = flow.offer(delivery(1, shared: "$share/g/"), online: true, now: t0)
        _ = flow.offer(delivery(2, shared: "$share/g/"), online: true, now: t0)
        _ = flow.offer(delivery(3), online: true, now: t0)
        let taken = flow.takeSharedUnacknowledged()
        #expect(taken.map(\.message.topic) == ["t/1", "t/2"])
        do { let result = (flow.inflight.isEmpty); #expect(result) }
        do { let result = (flow.queuedCount == 1); #expect(result) }
    }

    @Test func sharedQoS2AlreadySentStaysWithTheMember() {
        var flow = OutboundFlow(limits: .init())
        _ = flow.offer(delivery(1, qos: .exactlyOnce, shared: "$share/g/"), online: true, now: t0)
        _ = flow.offer(delivery(2, qos: .atLeastOnce, shared: "$share/g/"), online: true, now: t0)
        let taken = flow.takeSharedUnacknowledged()
        #expect(taken.map(\.message.topic) == ["t/2"])
        #expect(flow.inflight.count == 1)
    }

    @Test func offerFromAnotherLoopQueuesQoS1ForTheConnectionToDrain() {
        var flow = OutboundFlow(limits: .init())
        guard case .queued = flow.offer(delivery(1), online: true, sendNow: false, now: t0) else { Issue.record("sent"); return }
        #expect(flow.canDrain)
        let sent = flow.drain(now: t0) { _ in }
        #expect(sent.map(\.packetIdentifier) == [1])
    }

    @Test func backpressureKeepsMessagesForConnectedClientsOnly() {
        var limits = OutboundFlow.Limits(maxQueuedMessages: 2, maxInflightMessages: 1)
        limits.backpressure = true
        var flow = OutboundFlow(limits: limits)
        _ = flow.offer(delivery(1), online: true, now: t0)  // in flight
        _ = flow.offer(delivery(2), online: true, now: t0)
        _ = flow.offer(delivery(3), online: true, now: t0)
        guard case .queuedOverLimit = flow.offer(delivery(4), online: true, now: t0) else { Issue.record("not kept"); return }
        #expect(flow.queuedCount == 3)
        #expect(!flow.hasDrainedBelowLowWater)
        guard case .dropped(.queueFull) = flow.offer(delivery(5), online: false, now: t0) else { Issue.record("kept offline"); return }
        _ = flow.acknowledge(puback: 1)
        _ = flow.drain(now: t0) { _ in }
        _ = flow.acknowledge(puback: 2)
        _ = flow.drain(now: t0) { _ in }
        #expect(flow.hasDrainedBelowLowWater)
    }

    @Test("rights are checked when a message is sent: drain and resend withhold what the reader may not read")
    func readerRightsAtSendTime() {
        var flow = OutboundFlow(limits: .init(maxQueuedMessages: 10, maxInflightMessages: 10))
        var inflight = delivery(1)
        inflight.storeID = 11
        _ = flow.offer(inflight, online: true, now: t0)
        _ = flow.offer(delivery(2), online: true, now: t0)
        var queued = delivery(3)
        queued.storeID = 33
        _ = flow.offer(queued, online: false, now: t0)
        _ = flow.offer(delivery(4), online: false, now: t0)
        _ = flow.takeStoreEffects()
        let denied: Set<String> = ["t/1", "t/3"]
        var drops: [DropReason] = []
        let resent = flow.resend(now: t0, mayRead: { !denied.contains($0) }) { drops.append($0) }
        #expect(resent.compactMap { if case .publish(let p) = $0 { return p.topic } else { return nil } } == ["t/2"])
        let drained = flow.drain(now: t0, mayRead: { !denied.contains($0) }) { drops.append($0) }
        #expect(drained.map(\.topic) == ["t/4"])
        #expect(drops == [.notAuthorized, .notAuthorized])
        #expect(flow.takeStoreEffects() == [.discarded(storeID: 11), .discarded(storeID: 33)], "their stored rows go")
        #expect(flow.inflight.count == 2 && flow.queuedCount == 0)
    }
    @Test("a session moving to another node hands over what is in flight with its packet identifiers and stage, then the queue; restored there, the resume resends the PUBLISHes (QoS 1 and 2) and the PUBREL under the same identifiers")
    func inFlightMovesWithItsIdentifiers() {
        var flow = OutboundFlow(limits: .init(maxQueuedMessages: 10, maxInflightMessages: 3))
        _ = flow.offer(delivery(1, qos: .atLeastOnce), online: true, now: t0)
        _ = flow.offer(delivery(2, qos: .exactlyOnce), online: true, now: t0)
        _ = flow.offer(delivery(3, qos: .exactlyOnce), online: true, now: t0)
        _ = flow.offer(delivery(4, qos: .atLeastOnce), online: true, now: t0)
        do { let result = flow.acknowledge(pubrec: 3, reasonCode: .success); #expect(result) }
        let owed = flow.takeAll()
        #expect(owed.inflight.map(\.packetIdentifier) == [1, 2, 3])
        #expect(owed.inflight.map(\.released) == [false, false, true])
        #expect(owed.queued.map(\.message.topic) == ["t/4"])
        #expect(flow.inflight.isEmpty && flow.queuedCount == 0)

        var moved = OutboundFlow(limits: .init(maxQueuedMessages: 10, maxInflightMessages: 3))
        moved.restore(inflight: owed.inflight.map { ($0.packetIdentifier, $0.delivery, $0.released) }, queue: owed.queued)
        let resent = moved.resend(now: t0)
        #expect(resent.count == 3)
        guard case .publish(let first) = resent[0], case .publish(let second) = resent[1], case .pubrel(let third) = resent[2] else {
            Issue.record("not PUBLISH, PUBLISH, PUBREL: \(resent)")
            return
        }
        #expect(first.packetIdentifier == 1 && first.qos == .atLeastOnce && first.dup)
        #expect(second.packetIdentifier == 2 && second.qos == .exactlyOnce && second.dup)
        #expect(third.packetIdentifier == 3)
        // The QoS 1 message waits for a PUBACK (not a PUBREC), and the identifiers in use are not given again.
        do { let result = moved.acknowledge(puback: 1); #expect(result) }
        do { let result = moved.acknowledge(pubcomp: 3); #expect(result) }
    }
}

