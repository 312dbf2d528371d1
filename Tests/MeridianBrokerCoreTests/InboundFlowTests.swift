import MeridianBrokerCore
import Testing

@Suite("Inbound QoS 2 flow")
struct InboundFlowTests {
    enum Event { case publish(UInt16), pubrel(UInt16), abandon(UInt16) }
    enum Outcome: Equatable { case arrival(InboundFlow.Arrival), released(Bool), abandoned }

    /// Events in, decisions out.
    private func run(_ flow: inout InboundFlow, _ events: [Event]) -> [Outcome] {
        events.map { event in
            switch event {
            case .publish(let id): return .arrival(flow.received(id))
            case .pubrel(let id): return .released(flow.released(id))
            case .abandon(let id): flow.abandon(id); return .abandoned
            }
        }
    }

    @Test("transcript: routed once, resends acknowledged only, PUBREL frees the identifier for a new message")
    func exactlyOnce() {
        var flow = InboundFlow(receiveMaximum: 10)
        #expect(run(&flow, [.publish(1), .publish(1), .pubrel(1), .pubrel(1), .publish(1)]) == [
            .arrival(.route), .arrival(.duplicate), .released(true), .released(false), .arrival(.route),
        ])
        #expect(flow.unreleased == [1])
    }

    @Test("transcript: the Receive Maximum bounds unreleased messages; a resend within it is still a duplicate")
    func receiveMaximum() {
        var flow = InboundFlow(receiveMaximum: 2)
        #expect(run(&flow, [.publish(1), .publish(2), .publish(3), .publish(2), .pubrel(1), .publish(3)]) == [
            .arrival(.route), .arrival(.route), .arrival(.overReceiveMaximum), .arrival(.duplicate),
            .released(true), .arrival(.route),
        ])
    }

    @Test("transcript: an abandoned message (refused, commit failed) is new again when resent")
    func abandoned() {
        var flow = InboundFlow(receiveMaximum: 5)
        #expect(run(&flow, [.publish(7), .abandon(7), .publish(7)]) == [.arrival(.route), .abandoned, .arrival(.route)])
    }

    @Test("restored identifiers (from the store after a restart) make resends duplicates")
    func restored() {
        var flow = InboundFlow(receiveMaximum: 5, unreleased: [9])
        #expect(run(&flow, [.publish(9), .pubrel(9)]) == [.arrival(.duplicate), .released(true)])
    }

    @Test("from another node: a resend (DUP 1) of an unreleased identifier is a duplicate; a first transmission (DUP 0) is new even so (the sender started over); no Receive Maximum")
    func fromPeer() {
        var flow = InboundFlow(receiveMaximum: 1, unreleased: [4])
        #expect(flow.receivedFromPeer(4, dup: true) == .duplicate)
        #expect(flow.receivedFromPeer(4, dup: false) == .route)
        #expect(flow.receivedFromPeer(5, dup: false) == .route)
        #expect(flow.receivedFromPeer(5, dup: true) == .duplicate)
        #expect(flow.receivedFromPeer(6, dup: true) == .route)
        #expect(flow.unreleased == [4, 5, 6])
        #expect(flow.released(5) && !flow.released(5))
        #expect(flow.receivedFromPeer(5, dup: true) == .route)
    }
}
