import MeridianBrokerCore
import MeridianMQTT
import Testing

@Suite struct ConnectNegotiationTests {
    func negotiate(_ connect: MQTTConnect, _ settings: BrokerSettings = BrokerSettings()) -> ConnectNegotiation.Result {
        ConnectNegotiation.negotiate(connect, settings: settings, assignIdentifier: { "assigned-1" })
    }

    @Test func emptyIdentifierIsAssignedFor5AndRefusedFor311WithoutCleanSession() {
        let v5 = negotiate(MQTTConnect(protocolVersion: .v5, cleanStart: false, keepAlive: 60, clientIdentifier: ""))
        guard case .accept(let n) = v5 else { Issue.record("refused"); return }
        #expect(n.clientIdentifier == "assigned-1" && n.assignedIdentifier)
        #expect(negotiate(MQTTConnect(protocolVersion: .v3_1_1, cleanStart: false, keepAlive: 60, clientIdentifier: ""))
            == .refuse(.clientIdentifierNotValid))
        guard case .accept(let v3) = negotiate(MQTTConnect(protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 60, clientIdentifier: "")) else {
            Issue.record("refused"); return
        }
        #expect(!v3.assignedIdentifier)
    }

    @Test func onlyTheBrokersOwnClientsMayUseAPeerSessionIdentifier() {
        let connect = MQTTConnect(protocolVersion: .v5, cleanStart: false, keepAlive: 0, clientIdentifier: PeerSession.clientIdentifier(for: "node-b"))
        #expect(negotiate(connect) == .refuse(.clientIdentifierNotValid))
        var settings = BrokerSettings()
        settings.clientIdentifierPrefix = "dev-"
        let inProcess = ConnectNegotiation.negotiate(connect, settings: settings, inProcess: true, assignIdentifier: { "x" })
        guard case .accept(let n) = inProcess else { Issue.record("the link's own session was refused"); return }
        #expect(n.clientIdentifier == "$meridian/peer/node-b")
    }

    @Test func keepAliveIsCappedByMaxKeepalive() {
        var settings = BrokerSettings()
        settings.maxKeepalive = 30
        guard case .accept(let n) = negotiate(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAlive: 0, clientIdentifier: "c"), settings) else {
            Issue.record("refused"); return
        }
        #expect(n.keepAlive == 30 && n.keepAliveOverridden)
        #expect(n.connackProperties(settings: settings, sessionExpiryCap: nil).serverKeepAlive == 30)
    }

    @Test func v311KeepAliveAboveMaximumIsRefusedAsMosquittoDoes() {
        var settings = BrokerSettings()
        settings.maxKeepalive = 30
        #expect(negotiate(MQTTConnect(protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 60, clientIdentifier: "c"), settings)
            == .refuse(.clientIdentifierNotValid))
        #expect(negotiate(MQTTConnect(protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 0, clientIdentifier: "c"), settings)
            == .refuse(.clientIdentifierNotValid))
        guard case .accept = negotiate(MQTTConnect(protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 20, clientIdentifier: "c"), settings) else {
            Issue.record("refused"); return
        }
    }

    @Test func sessionExpiryFollowsVersionRules() {
        guard case .accept(let persistent) = negotiate(MQTTConnect(protocolVersion: .v3_1_1, cleanStart: false, keepAlive: 0, clientIdentifier: "c")),
              case .accept(let v5) = negotiate(MQTTConnect(protocolVersion: .v5, cleanStart: false, keepAlive: 0, clientIdentifier: "c", properties: [.sessionExpiryInterval(300)])) else {
            Issue.record("refused"); return
        }
        #expect(persistent.sessionExpiryInterval == UInt32.max)
        #expect(v5.sessionExpiryInterval == 300)
    }

    @Test func connackAdvertisesLimits() {
        var settings = BrokerSettings()
        settings.maxQoS = .atLeastOnce
        settings.retainAvailable = false
        settings.maxPacketSize = 1000
        settings.receiveMaximum = 50
        guard case .accept(let n) = negotiate(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAlive: 10, clientIdentifier: "c"), settings) else {
            Issue.record("refused"); return
        }
        let properties = n.connackProperties(settings: settings, sessionExpiryCap: nil)
        #expect(properties.maximumQoS == 1)
        #expect(properties.retainAvailable == 0)
        #expect(properties.maximumPacketSize == 1000)
        #expect(properties.receiveMaximum == 50)
        #expect(properties.topicAliasMaximum == 10)
        #expect(properties.wildcardSubscriptionAvailable == 1)
        #expect(properties.sharedSubscriptionAvailable == 1)
        #expect(properties.subscriptionIdentifierAvailable == 1)
    }

    @Test func willAboveMaximumQoSIsRefused() {
        var settings = BrokerSettings()
        settings.maxQoS = .atMostOnce
        let will = MQTTWill(topic: "w", payload: .init(), qos: .atLeastOnce, retain: false)
        #expect(negotiate(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAlive: 10, clientIdentifier: "c", will: will), settings)
            == .refuse(.qosNotSupported))
    }

}

@Suite struct TopicAliasTests {
    @Test func inboundAliasesResolveAndRejectBadValues() throws {
        var aliases = InboundTopicAliases(maximum: 2)
        var first = MQTTPublish(topic: "a/b", payload: .init(), properties: [.topicAlias(1)])
        try aliases.resolve(&first)
        var second = MQTTPublish(topic: "", payload: .init(), properties: [.topicAlias(1)])
        try aliases.resolve(&second)
        #expect(second.topic == "a/b")
        var tooHigh = MQTTPublish(topic: "x", payload: .init(), properties: [.topicAlias(3)])
        #expect(throws: MQTTCodecError.self) { try aliases.resolve(&tooHigh) }
        var unknown = MQTTPublish(topic: "", payload: .init(), properties: [.topicAlias(2)])
        #expect(throws: MQTTCodecError.self) { try aliases.resolve(&unknown) }
    }

    @Test func outboundAliasesAreAssignedUpToTheClientMaximum() {
        var aliases = OutboundTopicAliases(maximum: 1)
        var p1 = MQTTPublish(topic: "t", payload: .init())
        aliases.apply(to: &p1)
        #expect(p1.topic == "t" && p1.properties.topicAlias == 1)
        var p2 = MQTTPublish(topic: "t", payload: .init())
        aliases.apply(to: &p2)
        #expect(p2.topic == "" && p2.properties.topicAlias == 1)
        var p3 = MQTTPublish(topic: "u", payload: .init())
        aliases.apply(to: &p3)
        #expect(p3.topic == "u" && p3.properties.topicAlias == nil)
    }
}
