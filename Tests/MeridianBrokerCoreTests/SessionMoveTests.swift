import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import Testing

/// Transcripts of a session moving between nodes: what the old node does with deliveries that
/// still come for it, and how the new node tells a second copy.
@Suite struct SessionMoveTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func delivery(_ n: Int, qos: MQTTQoS = .atLeastOnce) -> Delivery {
        Delivery(message: BrokerMessage(topic: "t/\(n)", payload: ByteBuffer(string: "m\(n)"), qos: qos, retain: false), qos: qos, retain: false)
    }

    @Test("the old node holds what comes while the state is handed over, releases it after, in order, then forwards; QoS 0 is dropped")
    func departedHoldsThenForwards() {
        var move = SessionMove.Departed(to: "node-b")
        #expect(move.offer(delivery(1)) == .held)
        #expect(move.offer(delivery(2, qos: .exactlyOnce)) == .held)
        #expect(move.offer(delivery(3, qos: .atMostOnce)) == .drop)
        // The state went to node-b: the held ones go now; one that comes meanwhile is held behind them.
        #expect(move.handedOver().map(\.message.topic) == ["t/1", "t/2"])
        #expect(move.offer(delivery(4)) == .held)
        #expect(move.handedOver().map(\.message.topic) == ["t/4"])
        #expect(move.handedOver().isEmpty)
        // From now on straight to node-b.
        #expect(move.offer(delivery(5)) == .forward(to: "node-b"))
        #expect(move.offer(delivery(6, qos: .atMostOnce)) == .drop)
        #expect(move.handedOver().isEmpty)
    }

    @Test("the new node delivers one copy of each QoS 1/2 message for the window, whichever copy comes first; QoS 0 is never a second copy")
    func arrivedDeliversOneCopy() {
        var arrived = SessionMove.Arrived(at: t0, window: .seconds(9), capacity: 2)
        do { let second = arrived.isSecondCopy(identity: "node-c-1", qos: .atLeastOnce); #expect(!second) }
        do { let second = arrived.isSecondCopy(identity: "node-c-1", qos: .atLeastOnce); #expect(second) }
        do { let second = arrived.isSecondCopy(identity: "node-a-7", qos: .exactlyOnce); #expect(!second) }
        do { let second = arrived.isSecondCopy(identity: "node-a-7", qos: .exactlyOnce); #expect(second) }
        do { let second = arrived.isSecondCopy(identity: "node-c-9", qos: .atMostOnce); #expect(!second) }
        do { let second = arrived.isSecondCopy(identity: "node-c-9", qos: .atMostOnce); #expect(!second) }
        // Bounded: the oldest identity is forgotten first.
        do { let second = arrived.isSecondCopy(identity: "node-c-2", qos: .atLeastOnce); #expect(!second) }
        do { let second = arrived.isSecondCopy(identity: "node-c-1", qos: .atLeastOnce); #expect(!second) }
        #expect(!arrived.isOver(at: t0 + .seconds(8)))
        #expect(arrived.isOver(at: t0 + .seconds(9)))
    }
}
