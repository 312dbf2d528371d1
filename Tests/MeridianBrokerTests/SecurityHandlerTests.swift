import Logging
import MeridianBrokerCore
import MeridianMQTT
import MeridianSecurity
import NIOCore
import NIOEmbedded
import Testing

@testable import MeridianBroker

extension EmbeddedBroker {
    /// Connects with a username (and optional password); returns the client with its CONNACK read.
    func connect(
        _ version: MQTTProtocolVersion = .v5, clientID: String, username: String?, password: String? = nil,
        will: MQTTWill? = nil, cleanStart: Bool = true, properties: MQTTProperties = []
    ) throws -> (TestClient, MQTTConnack?) {
        let (client, packets) = try connectReadingAll(
            version, clientID: clientID, username: username, password: password, will: will, cleanStart: cleanStart,
            properties: properties)
        guard case .connack(let connack) = packets.first else { return (client, nil) }
        return (client, connack)
    }

    /// Connects and returns every packet the broker answered with, the CONNACK first.
    func connectReadingAll(
        _ version: MQTTProtocolVersion = .v5, clientID: String, username: String?, password: String? = nil,
        will: MQTTWill? = nil, cleanStart: Bool = true, properties: MQTTProperties = []
    ) throws -> (TestClient, [MQTTPacket]) {
        nextID += 1
        let handler = MQTTConnectionHandler(broker: broker, loopContext: context, connectionID: nextID)
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let client = TestClient(channel: channel, version: version)
        try client.send(
            .connect(
                MQTTConnect(
                    protocolVersion: version, cleanStart: cleanStart, keepAlive: 60, clientIdentifier: clientID,
                    properties: properties, will: will,
                    username: username, password: password.map { ByteBuffer(string: $0) })))
        return (client, try client.received())
    }
}

/// Transcripts of authentication, ACL and rate-limit decisions through the real handler.
@Suite struct SecurityHandlerTests {
    static let acl = try! AccessControlList.parse(
        text: """
            user admin
            topic readwrite devices/#
            pattern readwrite devices/%u/#
            """, file: "acl")

    static func publish(_ topic: String, id: UInt16, qos: MQTTQoS = .atLeastOnce) -> MQTTPacket {
        .publish(MQTTPublish(topic: topic, payload: ByteBuffer(string: "x"), qos: qos, packetIdentifier: id))
    }

    @Test func anonymousAndBadPasswordCodes() throws {
        let broker = EmbeddedBroker()
        let passwords = try PasswordFile.parse(
            text: """
                dev:$6$Pkt0Sdwxal2XQoLJ$XHi28phsWIQvuAU+fbc5JuHXTC5wvrKbfQH8+sk3J5kAK9QzWGBz/XfRfjuHq5Q2nV/7+daG0yO/TWI/WEbYVw==
                """, file: "pw")
        broker.broker.applySecurity(SecurityPolicy(allowAnonymous: false, passwords: passwords))
        #expect(try broker.connect(.v5, clientID: "a", username: nil).1?.reasonCode == .notAuthorized)
        #expect(try broker.connect(.v3_1_1, clientID: "b", username: nil).1?.reasonCode == .v3NotAuthorized)
        #expect(try broker.connect(.v5, clientID: "c", username: "dev", password: "nope").1?.reasonCode == .badUserNameOrPassword)
        #expect(try broker.connect(.v3_1_1, clientID: "d", username: "dev", password: "nope").1?.reasonCode == .v3NotAuthorized)
        #expect(try broker.connect(.v5, clientID: "e", username: "dev", password: "secret2").1?.reasonCode == .success)
        #expect(broker.context.counters.authFailures == 4)
    }

    @Test func aclOnSubscribePublishDeliveryAndReload() throws {
        let broker = EmbeddedBroker()
        broker.broker.applySecurity(SecurityPolicy(allowAnonymous: true, acl: Self.acl))
        let (a, _) = try broker.connect(clientID: "a", username: "dev-a")
        try a.send(
            .subscribe(
                MQTTSubscribe(
                    packetIdentifier: 1,
                    subscriptions: [
                        MQTTSubscription(topicFilter: "devices/#", options: .init(qos: .atLeastOnce)),
                        MQTTSubscription(topicFilter: "devices/dev-a/#", options: .init(qos: .atMostOnce)),
                    ])))
        #expect(try a.received() == [.suback(MQTTSuback(packetIdentifier: 1, reasonCodes: [.notAuthorized, .grantedQoS0]))])

        let (b, _) = try broker.connect(.v3_1_1, clientID: "b", username: "dev-b")
        try b.send(Self.publish("devices/dev-a/cmd", id: 1))
        #expect(try b.received() == [.puback(MQTTAck(packetIdentifier: 1))], "3.1.1: acknowledged")
        #expect(try a.received() == [], "and dropped")

        let (admin, _) = try broker.connect(clientID: "admin", username: "admin")
        try admin.send(Self.publish("devices/dev-a/cmd", id: 1, qos: .atMostOnce))
        #expect(try a.received().count == 1)
        // A 5.0 publisher hears the refusal.
        let (b5, _) = try broker.connect(clientID: "b5", username: "dev-b")
        try b5.send(Self.publish("devices/dev-a/cmd", id: 7))
        #expect(try b5.received() == [.puback(MQTTAck(packetIdentifier: 7, reasonCode: .notAuthorized))])

        // Reload without the pattern: dev-a stays connected and stops receiving; dev-b may no longer publish its own.
        broker.broker.applySecurity(
            SecurityPolicy(
                allowAnonymous: true,
                acl: try AccessControlList.parse(
                    text: "user admin\ntopic readwrite devices/#\n", file: "acl")))
        broker.loop.run()
        try admin.send(Self.publish("devices/dev-a/cmd", id: 2))
        // dev-a's subscription is still there, but it may not read: no matching subscriber.
        #expect(try admin.received() == [.puback(MQTTAck(packetIdentifier: 2, reasonCode: .noMatchingSubscribers))])
        #expect(try a.received() == [])
        #expect(a.channel.isActive)
        try b5.send(Self.publish("devices/dev-b/own", id: 8))
        #expect(try b5.received() == [.puback(MQTTAck(packetIdentifier: 8, reasonCode: .notAuthorized))])
    }

    @Test func willTopicCheckedAtConnect() throws {
        let broker = EmbeddedBroker()
        broker.broker.applySecurity(SecurityPolicy(allowAnonymous: true, acl: Self.acl))
        let foreign = MQTTWill(topic: "devices/dev-b/status", payload: ByteBuffer(string: "gone"), qos: .atMostOnce, retain: false)
        #expect(try broker.connect(clientID: "a", username: "dev-a", will: foreign).1?.reasonCode == .notAuthorized)
        let own = MQTTWill(topic: "devices/dev-a/status", payload: ByteBuffer(string: "gone"), qos: .atMostOnce, retain: false)
        #expect(try broker.connect(clientID: "a2", username: "dev-a", will: own).1?.reasonCode == .success)
    }

    @Test func publishRateLimit() throws {
        var settings = BrokerSettings()
        settings.maxPublishRate = 2
        let broker = EmbeddedBroker(settings: settings)
        let (client, _) = try broker.connect(clientID: "fast", username: nil)
        for id in UInt16(1)...3 { try client.send(Self.publish("t", id: id)) }
        try client.send(Self.publish("t", id: 4, qos: .exactlyOnce))
        #expect(
            try client.received() == [
                .puback(MQTTAck(packetIdentifier: 1, reasonCode: .noMatchingSubscribers)),
                .puback(MQTTAck(packetIdentifier: 2, reasonCode: .noMatchingSubscribers)),
                .puback(MQTTAck(packetIdentifier: 3, reasonCode: .messageRateTooHigh)),
                .pubrec(MQTTAck(packetIdentifier: 4, reasonCode: .messageRateTooHigh)),
            ])
        broker.loop.advanceTime(by: .milliseconds(500))
        try client.send(Self.publish("t", id: 5))
        #expect(try client.received() == [.puback(MQTTAck(packetIdentifier: 5, reasonCode: .noMatchingSubscribers))])
        #expect(broker.context.counters.rateLimited == 2)
    }

    /// Sets up alice's persistent session (`shared-id`, subscribed to her own topics) with one
    /// QoS 1 message queued while she is offline.
    static func aliceWithQueuedMessage(_ broker: EmbeddedBroker, version: MQTTProtocolVersion) throws {
        let properties: MQTTProperties = version == .v5 ? [.sessionExpiryInterval(3600)] : []
        let (alice, connack) = try broker.connect(version, clientID: "shared-id", username: "alice", cleanStart: false, properties: properties)
        #expect(connack?.reasonCode == .success)
        try alice.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [
            MQTTSubscription(topicFilter: "devices/alice/#", options: .init(qos: .atLeastOnce)),
        ])))
        _ = try alice.received()
        try alice.send(.disconnect(MQTTDisconnect()))
        broker.loop.run()
        let (admin, _) = try broker.connect(clientID: "admin", username: "admin")
        try admin.send(Self.publish("devices/alice/queued", id: 1))
        #expect(try admin.received() == [.puback(MQTTAck(packetIdentifier: 1))], "queued for alice")
    }

    @Test("a session belongs to its user: bob is refused alice's client id, and alice keeps her queue",
          arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func sessionOwnership(version: MQTTProtocolVersion) throws {
        let broker = EmbeddedBroker()
        broker.broker.applySecurity(SecurityPolicy(allowAnonymous: true, acl: Self.acl))
        try Self.aliceWithQueuedMessage(broker, version: version)
        for cleanStart in [false, true] {
            let (bob, packets) = try broker.connectReadingAll(version, clientID: "shared-id", username: "bob", cleanStart: cleanStart)
            #expect(packets == [.connack(MQTTConnack(
                sessionPresent: false, reasonCode: version == .v5 ? .notAuthorized : .v3NotAuthorized))], "nothing of alice's")
            #expect(!bob.channel.isActive)
        }
        let (_, packets) = try broker.connectReadingAll(version, clientID: "shared-id", username: "alice", cleanStart: false)
        guard case .connack(let connack) = packets.first else { Issue.record("no CONNACK"); return }
        #expect(connack.sessionPresent)
        let delivered = packets.compactMap { packet -> String? in
            if case .publish(let publish) = packet { return publish.topic }
            return nil
        }
        #expect(delivered == ["devices/alice/queued"])
    }

    @Test("allow_cross_user_takeover: bob takes the session over and still receives nothing he may not read")
    func crossUserTakeoverChecksRightsAtDelivery() throws {
        var settings = BrokerSettings()
        settings.allowCrossUserTakeover = true
        let broker = EmbeddedBroker(settings: settings)
        broker.broker.applySecurity(SecurityPolicy(allowAnonymous: true, acl: Self.acl))
        try Self.aliceWithQueuedMessage(broker, version: .v5)
        let (bob, packets) = try broker.connectReadingAll(.v5, clientID: "shared-id", username: "bob", cleanStart: false)
        guard case .connack(let connack) = packets.first else { Issue.record("no CONNACK"); return }
        #expect(connack.reasonCode == .success && connack.sessionPresent)
        #expect(packets.count == 1, "alice's queued message is not bob's to read: \(packets)")
        #expect(bob.channel.isActive)
        #expect(broker.broker.queueStatistics(clientIdentifier: "shared-id")?.queued == 0, "and it left the queue")
        #expect(broker.broker.lock.withLock { broker.broker.drops[.notAuthorized] } == 1, "counted")
    }

    @Test("a reload disconnects clients whose password changed or was removed, and anonymous ones once refused")
    func reloadRechecksCredentials() throws {
        let broker = EmbeddedBroker()
        let hash = "$6$Pkt0Sdwxal2XQoLJ$XHi28phsWIQvuAU+fbc5JuHXTC5wvrKbfQH8+sk3J5kAK9QzWGBz/XfRfjuHq5Q2nV/7+daG0yO/TWI/WEbYVw=="
        let both = try PasswordFile.parse(text: "dev:\(hash)\nother:\(hash)\n", file: "pw")
        broker.broker.applySecurity(SecurityPolicy(allowAnonymous: true, passwords: both))
        let (dev, _) = try broker.connect(clientID: "dev", username: "dev", password: "secret2")
        let (other, _) = try broker.connect(clientID: "other", username: "other", password: "secret2")
        let (anonymous, _) = try broker.connect(clientID: "anon", username: nil)
        _ = try dev.received(); _ = try other.received(); _ = try anonymous.received()

        // Same file: nobody leaves.
        broker.broker.applySecurity(SecurityPolicy(allowAnonymous: true, passwords: both))
        broker.loop.run()
        #expect(dev.channel.isActive && other.channel.isActive && anonymous.channel.isActive)

        // `other` removed, anonymous access withdrawn.
        let onlyDev = try PasswordFile.parse(text: "dev:\(hash)\n", file: "pw")
        broker.broker.applySecurity(SecurityPolicy(allowAnonymous: false, passwords: onlyDev))
        broker.loop.run()
        #expect(dev.channel.isActive)
        #expect(try other.received() == [.disconnect(MQTTDisconnect(reasonCode: .notAuthorized))])
        #expect(!other.channel.isActive)
        #expect(!anonymous.channel.isActive)
    }

    @Test("who may attach to whose session")
    func sessionIdentityAdmits() {
        let alice = SessionIdentity.client(username: "alice")
        let bob = SessionIdentity.client(username: "bob")
        let anonymous = SessionIdentity.client(username: nil)
        #expect(alice.admits(alice, allowCrossUser: false))
        #expect(!alice.admits(bob, allowCrossUser: false))
        #expect(alice.admits(bob, allowCrossUser: true))
        #expect(!alice.admits(anonymous, allowCrossUser: false))
        #expect(!anonymous.admits(alice, allowCrossUser: false))
        #expect(anonymous.admits(anonymous, allowCrossUser: false))
        #expect(!SessionIdentity.trusted.admits(alice, allowCrossUser: true), "a bridge's local session is the broker's own")
        #expect(alice.admits(.trusted, allowCrossUser: false))
        #expect(SessionIdentity.unknown.admits(bob, allowCrossUser: false), "a schema 1 session goes to its first claimant")
    }
}
