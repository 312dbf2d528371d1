import MeridianBrokerCore
import MeridianMQTT
import Testing

@Suite("SUBSCRIBE decisions")
struct SubscribeDecisionTests {
    static func subscribe(_ filters: [(String, MQTTSubscriptionOptions)], identifiers: [UInt32] = []) -> MQTTSubscribe {
        MQTTSubscribe(
            packetIdentifier: 1,
            subscriptions: filters.map { MQTTSubscription(topicFilter: $0.0, options: $0.1) },
            properties: MQTTProperties(identifiers.map { .subscriptionIdentifier($0) }))
    }

    static func decide(
        _ subscribe: MQTTSubscribe, version: MQTTProtocolVersion = .v5, maxQoS: MQTTQoS = .exactlyOnce,
        isBridge: Bool = false, denied: Set<String> = []
    ) -> SubscribeDecision.Outcome {
        SubscribeDecision.decide(subscribe, version: version, maxQoS: maxQoS, isBridge: isBridge) { !denied.contains($0) }
    }

    @Test("per filter, in order: granted QoS capped by max_qos; invalid, too deep and ACL-denied filters refused with 5.0 codes")
    func mixed() {
        let deep = Array(repeating: "a", count: MQTTTopic.maximumLevels + 1).joined(separator: "/")
        let outcome = Self.decide(Self.subscribe([
            ("a/#", .init(qos: .exactlyOnce)), ("a/#/b", .init(qos: .atMostOnce)), (deep, .init(qos: .atMostOnce)),
            ("secret/#", .init(qos: .atLeastOnce)),
        ], identifiers: [7]), maxQoS: .atLeastOnce, denied: ["secret/#"])
        guard case .answer(let filters, let identifier) = outcome else { Issue.record("\(outcome)"); return }
        #expect(identifier == 7)
        #expect(filters.map(\.reasonCode) == [MQTTReasonCode(1), .topicFilterInvalid, .topicFilterInvalid, .notAuthorized])
        #expect(filters[1] == .refuse(filter: "a/#/b", .invalidFilter, code: .topicFilterInvalid))
        #expect(filters[2] == .refuse(filter: deep, .tooDeep, code: .topicFilterInvalid))
    }

    @Test("3.1.1 refusals are 0x80 whatever the reason")
    func v311Codes() {
        let outcome = Self.decide(Self.subscribe([("a/#/b", .init(qos: .atMostOnce)), ("x", .init(qos: .atMostOnce))]),
                                  version: .v3_1_1, denied: ["x"])
        guard case .answer(let filters, _) = outcome else { Issue.record("\(outcome)"); return }
        #expect(filters.map(\.reasonCode) == [.v3SubscribeFailure, .v3SubscribeFailure])
    }

    @Test("a try_private bridge gets No Local and Retain As Published")
    func bridge() {
        let outcome = Self.decide(Self.subscribe([("t/#", .init(qos: .atLeastOnce))]), version: .v3_1_1, isBridge: true)
        #expect(outcome == .answer([.grant(filter: "t/#", options: .init(qos: .atLeastOnce, noLocal: true, retainAsPublished: true))], identifier: nil))
    }

    @Test("protocol errors close the connection: two identifiers, identifier 0, No Local on a shared subscription (5.0)")
    func protocolErrors() {
        #expect(Self.decide(Self.subscribe([("a", .init(qos: .atMostOnce))], identifiers: [1, 2])) == .protocolError("invalid subscription identifier"))
        #expect(Self.decide(Self.subscribe([("a", .init(qos: .atMostOnce))], identifiers: [0])) == .protocolError("invalid subscription identifier"))
        #expect(Self.decide(Self.subscribe([("$share/g/a", .init(qos: .atMostOnce, noLocal: true))])) == .protocolError("No Local on a shared subscription"))
    }
}
