import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import Testing

/// The age of the oldest message a session still owes its client (bridge outbox age in `/metrics`).
@Suite struct OutboundFlowAgeTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// Message `n`, accepted from its publisher at `t0 + acceptedAfter`.
    func delivery(_ n: Int, acceptedAfter: TimeAmount) -> Delivery {
        var message = BrokerMessage(topic: "t/\(n)", payload: ByteBuffer(string: "m\(n)"), qos: .atLeastOnce, retain: false)
        message.acceptedAt = t0 + acceptedAfter
        return Delivery(message: message, qos: .atLeastOnce, retain: false)
    }

    @Test func oldestWaitingIsTheFirstTakenUntilAcknowledged() {
        var flow = OutboundFlow(limits: .init(maxQueuedMessages: 10, maxInflightMessages: 1))
        #expect(flow.oldestWaitingSince == nil)
        _ = flow.offer(delivery(1, acceptedAfter: .zero), online: true, now: t0)  // sent, in flight
        _ = flow.offer(delivery(2, acceptedAfter: .seconds(5)), online: true, now: t0 + .seconds(5))  // queued behind the window
        #expect(flow.oldestWaitingSince == t0)
        let acknowledged = flow.acknowledge(puback: 1)
        #expect(acknowledged)
        #expect(flow.oldestWaitingSince == t0 + .seconds(5))
        _ = flow.drain(now: t0 + .seconds(9)) { _ in }
        // Accepted at 5 s: draining into the window does not restart its clock.
        #expect(flow.oldestWaitingSince == t0 + .seconds(5))
    }

    @Test func offlineQueueKeepsArrivalTimes() {
        var flow = OutboundFlow(limits: .init(maxQueuedMessages: 10))
        _ = flow.offer(delivery(1, acceptedAfter: .seconds(2)), online: false, now: t0 + .seconds(2))
        _ = flow.offer(delivery(2, acceptedAfter: .seconds(3)), online: false, now: t0 + .seconds(3))
        #expect(flow.oldestWaitingSince == t0 + .seconds(2))
    }
}
