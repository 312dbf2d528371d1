import Logging
@testable import MeridianBroker
import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import NIOEmbedded
import Testing

/// Handler tests on `EmbeddedChannel`: the test speaks typed packets through a client-side codec.
/// The embedded loop's virtual time as the broker's clock, so `loop.advanceTime(by:)` moves both
/// the timers and the time the decisions read.
struct EmbeddedLoopClock: MonotonicClock, @unchecked Sendable {
    let loop: EmbeddedEventLoop
    var now: NIODeadline { loop.now }
}

final class EmbeddedBroker {
    let loop: EmbeddedEventLoop
    let broker: Broker
    let context: LoopContext
    var nextID: UInt64 = 0

    convenience init(settings: BrokerSettings = BrokerSettings()) {
        self.init { Broker(settings: settings, logger: Logger(label: "test"), clock: $0) }
    }

    /// - Parameter makeBroker: builds the broker with the embedded loop's clock.
    init(makeBroker: (EmbeddedLoopClock) -> Broker) {
        let loop = EmbeddedEventLoop()
        self.loop = loop
        broker = makeBroker(EmbeddedLoopClock(loop: loop))
        context = LoopContext(eventLoop: loop, index: 0, loopCount: 1, clock: broker.clock)
        context.peers = [context]
    }

    func connect(_ version: MQTTProtocolVersion = .v5, clientID: String, cleanStart: Bool = true, keepAlive: UInt16 = 60,
                 properties: MQTTProperties = [], will: MQTTWill? = nil) throws -> TestClient {
        nextID += 1
        let handler = MQTTConnectionHandler(broker: broker, loopContext: context, connectionID: nextID)
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let client = TestClient(channel: channel, version: version)
        try client.send(.connect(MQTTConnect(protocolVersion: version, cleanStart: cleanStart, keepAlive: keepAlive,
                                             clientIdentifier: clientID, properties: properties, will: will)))
        return client
    }
}

final class TestClient {
    let channel: EmbeddedChannel
    var parser: MQTTPacketParser

    init(channel: EmbeddedChannel, version: MQTTProtocolVersion) {
        self.channel = channel
        self.parser = MQTTPacketParser(role: .client, protocolVersion: version)
    }

    func send(_ packet: MQTTPacket) throws {
        var buffer = channel.allocator.buffer(capacity: 64)
        packet.write(version: parser.protocolVersion!, to: &buffer)
        try channel.writeInbound(buffer)
        channel.pipeline.fireChannelReadComplete()
    }

    func sendRaw(_ bytes: [UInt8]) throws {
        try channel.writeInbound(channel.allocator.buffer(bytes: bytes))
        channel.pipeline.fireChannelReadComplete()
    }

    /// Every packet the broker wrote so far.
    func received() throws -> [MQTTPacket] {
        var packets: [MQTTPacket] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            while let packet = try parser.next(from: &buffer) { packets.append(packet) }
        }
        return packets
    }
}

@Suite struct ConnectionHandlerTests {
    @Test func connectSubscribePublishDeliver() throws {
        let broker = EmbeddedBroker()
        let sub = try broker.connect(clientID: "sub")
        guard case .connack(let connack) = try sub.received().first else { Issue.record("no CONNACK"); return }
        #expect(connack.reasonCode == .success && !connack.sessionPresent)
        #expect(connack.properties.topicAliasMaximum == 10)

        try sub.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [
            MQTTSubscription(topicFilter: "t/#", options: .init(qos: .atLeastOnce)),
        ], properties: [.subscriptionIdentifier(5)])))
        #expect(try sub.received() == [.suback(MQTTSuback(packetIdentifier: 1, reasonCodes: [.grantedQoS1]))])

        let pub = try broker.connect(.v3_1_1, clientID: "pub")
        _ = try pub.received()
        try pub.send(.publish(MQTTPublish(topic: "t/1", payload: ByteBuffer(string: "hi"), qos: .atLeastOnce, packetIdentifier: 9)))
        #expect(try pub.received() == [.puback(MQTTAck(packetIdentifier: 9))])

        let delivered = try sub.received()
        guard case .publish(let publish) = delivered.first else { Issue.record("nothing delivered"); return }
        #expect(publish.topic == "t/1" && publish.qos == .atLeastOnce && publish.packetIdentifier != nil)
        #expect(publish.properties.subscriptionIdentifiers == [5])
        #expect(String(buffer: publish.payload) == "hi")
    }

    @Test func qos2ResendWithDupIsRoutedOnce() throws {
        let broker = EmbeddedBroker()
        let sub = try broker.connect(clientID: "sub")
        try sub.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [
            MQTTSubscription(topicFilter: "q", options: .init(qos: .exactlyOnce)),
        ])))
        _ = try sub.received()
        let pub = try broker.connect(clientID: "pub")
        _ = try pub.received()
        let publish = MQTTPublish(topic: "q", payload: ByteBuffer(string: "once"), qos: .exactlyOnce, packetIdentifier: 1)
        try pub.send(.publish(publish))
        var again = publish
        again.dup = true
        try pub.send(.publish(again))
        #expect(try pub.received() == [.pubrec(MQTTAck(packetIdentifier: 1)), .pubrec(MQTTAck(packetIdentifier: 1))])
        try pub.send(.pubrel(MQTTAck(packetIdentifier: 1)))
        #expect(try pub.received() == [.pubcomp(MQTTAck(packetIdentifier: 1))])
        let publishes = try sub.received().filter { if case .publish = $0 { return true }; return false }
        #expect(publishes.count == 1)
    }

    @Test func takeoverSendsSessionTakenOverToTheOldConnection() throws {
        let broker = EmbeddedBroker()
        let first = try broker.connect(clientID: "same")
        _ = try first.received()
        let second = try broker.connect(clientID: "same", cleanStart: false)
        broker.loop.run()
        #expect(try first.received() == [.disconnect(MQTTDisconnect(reasonCode: .sessionTakenOver))])
        guard case .connack(let connack) = try second.received().first else { Issue.record("no CONNACK"); return }
        // The old connection was still open, so its session existed and is resumed.
        #expect(connack.sessionPresent == true)
    }

    @Test func packetBeforeConnectClosesTheConnection() throws {
        let broker = EmbeddedBroker()
        let handler = MQTTConnectionHandler(broker: broker.broker, loopContext: broker.context, connectionID: 1)
        let channel = EmbeddedChannel(handler: handler, loop: broker.loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(channel.allocator.buffer(bytes: [0xC0, 0x00]))  // PINGREQ
        #expect(!channel.isActive)
    }

    @Test func wildcardInPublishTopicDisconnectsWithReasonCode() throws {
        let broker = EmbeddedBroker()
        let client = try broker.connect(clientID: "bad")
        _ = try client.received()
        // PUBLISH QoS 0, topic "a/#", empty payload.
        try client.sendRaw([0x30, 0x06, 0x00, 0x03, 0x61, 0x2F, 0x23, 0x00])
        #expect(try client.received() == [.disconnect(MQTTDisconnect(reasonCode: .topicNameInvalid))])
        #expect(!client.channel.isActive)
    }

    @Test func willIsPublishedOnAbnormalCloseButNotOnDisconnect() throws {
        let broker = EmbeddedBroker()
        let watcher = try broker.connect(clientID: "watcher")
        try watcher.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [
            MQTTSubscription(topicFilter: "will/#", options: .init(qos: .atMostOnce)),
        ])))
        _ = try watcher.received()

        let polite = try broker.connect(clientID: "polite", will: MQTTWill(topic: "will/polite", payload: ByteBuffer(string: "x"), qos: .atMostOnce, retain: false))
        try polite.send(.disconnect(MQTTDisconnect()))
        let crashing = try broker.connect(clientID: "crashing", will: MQTTWill(topic: "will/crashing", payload: ByteBuffer(string: "y"), qos: .atMostOnce, retain: false))
        _ = try crashing.channel.close().wait()
        broker.loop.run()
        let topics = try watcher.received().compactMap { packet -> String? in
            if case .publish(let p) = packet { return p.topic }
            return nil
        }
        #expect(topics == ["will/crashing"])
    }

    @Test func sharedMessageUnacknowledgedByADepartingMemberGoesToAnother() throws {
        let broker = EmbeddedBroker()
        let m1 = try broker.connect(clientID: "m1")
        let m2 = try broker.connect(clientID: "m2")
        for member in [m1, m2] {
            try member.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [
                MQTTSubscription(topicFilter: "$share/g/jobs", options: .init(qos: .atLeastOnce)),
            ])))
            _ = try member.received()
        }
        let pub = try broker.connect(clientID: "pub")
        try pub.send(.publish(MQTTPublish(topic: "jobs", payload: ByteBuffer(string: "j1"), qos: .atLeastOnce, packetIdentifier: 1)))
        let toM1 = try m1.received()
        let toM2 = try m2.received()
        #expect(toM1.count + toM2.count == 1)
        // Whoever got it leaves without PUBACK; the other member receives it.
        let (leaver, stayer) = toM1.isEmpty ? (m2, m1) : (m1, m2)
        _ = try leaver.channel.close().wait()
        broker.loop.run()
        let redelivered = try stayer.received().compactMap { if case .publish(let p) = $0 { return String(buffer: p.payload) } else { return nil } }
        #expect(redelivered == ["j1"])
    }
}
