import MeridianBrokerCore
import MeridianClusterCore
import MeridianMQTT
import NIOCore
import Testing

/// The inter-node link's pure parts: the handshake's verdicts, the wire form of route updates and
/// forwarded messages, and the per-peer outbox's transcript.
@Suite struct PeerLinkTests {
    private let secret = "correct-horse-battery-staple"
    private let a = PeerHandshake.Hello(cluster: "eu", node: "node-a", incarnation: 7)

    @Test func handshakeAcceptsOnlyTheSecretAndTheCluster() {
        let connect = PeerHandshake.connect(a, secret: secret, keepAlive: 5)
        #expect(PeerHandshake.verify(connect, cluster: "eu", node: "node-b", secret: secret) == .accept(a))

        let wrongSecret = PeerHandshake.connect(a, secret: secret + "x", keepAlive: 5)
        let shortSecret = PeerHandshake.connect(a, secret: String(secret.dropLast()), keepAlive: 5)
        for connect in [wrongSecret, shortSecret] {
            guard case .refuse(let reason, _) = PeerHandshake.verify(connect, cluster: "eu", node: "node-b", secret: secret) else {
                Issue.record("a wrong secret was accepted")
                continue
            }
            #expect(reason == .badUserNameOrPassword)
        }
        var noPassword = connect
        noPassword.password = nil
        let refusedWithout = PeerHandshake.verify(noPassword, cluster: "eu", node: "node-b", secret: secret)
        #expect(refusedWithout != .accept(a))
        let otherCluster = PeerHandshake.verify(connect, cluster: "us", node: "node-b", secret: secret)
        #expect(otherCluster != .accept(a))
        // A node answering its own name, and an ordinary MQTT client, are not links.
        let ownName = PeerHandshake.verify(connect, cluster: "eu", node: "node-a", secret: secret)
        #expect(ownName != .accept(a))
        let device = MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientIdentifier: "sensor-1", password: ByteBuffer(string: secret))
        let deviceVerdict = PeerHandshake.verify(device, cluster: "eu", node: "node-b", secret: secret)
        #expect(deviceVerdict == .refuse(.notAuthorized, "not an inter-node link"))
    }

    @Test func theDialerChecksWhoAnswered() {
        let b = PeerHandshake.Hello(cluster: "eu", node: "node-b", incarnation: 9)
        #expect(PeerHandshake.answer(PeerHandshake.connack(b), expectedNode: "node-b") == .accepted(b))
        #expect(PeerHandshake.answer(PeerHandshake.connack(b), expectedNode: "node-c") == .refused(.notAuthorized))
        let refused = MQTTConnack(sessionPresent: false, reasonCode: .badUserNameOrPassword)
        #expect(PeerHandshake.answer(refused, expectedNode: "node-b") == .refused(.badUserNameOrPassword))
    }

    @Test func routeUpdatesSurviveTheWire() {
        let updates = [
            RouteUpdate(node: "node-a", incarnation: 7, sequence: 1, change: .add("sensors/+/temp")),
            RouteUpdate(node: "node-a", incarnation: 7, sequence: 2, change: .remove("sensors/+/temp")),
            RouteUpdate(node: "node-a", incarnation: 7, sequence: 2, change: .snapshot(["#", "a/b", "ü/€"])),
            RouteUpdate(node: "node-a", incarnation: 8, sequence: 0, change: .snapshot([])),
        ]
        for update in updates {
            let publish = PeerWire.publish(update)
            #expect(publish.topic == PeerWire.routesTopic && publish.qos == .atMostOnce)
            #expect(PeerWire.routeUpdate(from: publish.payload) == update)
        }
        // Truncated, trailing, unknown-kind and oversized-count payloads are not updates.
        var bytes = PeerWire.publish(updates[2]).payload
        let whole = bytes.readBytes(length: bytes.readableBytes)!
        #expect(PeerWire.routeUpdate(from: ByteBuffer(bytes: whole.dropLast())) == nil)
        #expect(PeerWire.routeUpdate(from: ByteBuffer(bytes: whole + [0])) == nil)
        #expect(PeerWire.routeUpdate(from: ByteBuffer(bytes: [9] + whole.dropFirst())) == nil)
        var huge = whole
        let countOffset = 1 + 8 + 8 + 2 + "node-a".utf8.count
        huge.replaceSubrange(countOffset..<countOffset + 4, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(PeerWire.routeUpdate(from: ByteBuffer(bytes: huge)) == nil)
    }

    @Test func aForwardedMessageArrivesAsPublishedWithoutTheEnvelope() {
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        var message = BrokerMessage(
            topic: "cmd/valve", payload: ByteBuffer(string: "open"), qos: .exactlyOnce, retain: true,
            properties: [.userProperty("app", "1"), .contentType("text/plain")], expiresAt: now + .seconds(30), origin: "console")
        message.sequence = 42
        let publish = PeerWire.forward(message, id: "3-42", now: now)
        // QoS 2 crosses the link as QoS 1 (the link's PUBACK follows the receiver's commit).
        #expect(publish.qos == .atLeastOnce && publish.retain && publish.packetIdentifier == nil)
        let arrival = PeerWire.received(publish, now: now)
        #expect(arrival.id == "3-42")
        #expect(arrival.message.qos == .exactlyOnce && arrival.message.retain && arrival.message.fromPeer)
        #expect(arrival.message.properties == [.userProperty("app", "1"), .contentType("text/plain")])
        #expect(arrival.message.remainingExpiry(at: now) == 30)
        #expect(arrival.message.payload == ByteBuffer(string: "open"))

        message.qos = .atMostOnce
        let qos0 = PeerWire.received(PeerWire.forward(message, id: "3-43", now: now), now: now)
        #expect(qos0.id == nil && qos0.message.qos == .atMostOnce)
    }

    private func publish(_ topic: String, _ qos: MQTTQoS) -> MQTTPublish {
        MQTTPublish(topic: topic, payload: ByteBuffer(string: "x"), qos: qos, retain: false, dup: false, packetIdentifier: nil)
    }

    @Test func outboxTranscript() {
        var outbox = PeerOutbox(limits: .init(maxQueued: 3, maxQueuedBytes: 1 << 20, maxInflight: 2))
        // Down: QoS 0 is dropped, QoS 1 waits within its bound.
        #expect(outbox.enqueue(publish("t/0", .atMostOnce)).isEmpty)
        for n in 1...4 { #expect(outbox.enqueue(publish("t/\(n)", .atLeastOnce)).isEmpty) }
        #expect(outbox.drops == [.linkDown: 1, .queueFull: 1] && outbox.queuedCount == 3)

        // Up: the window lets two out, each with its own packet identifier.
        let first = outbox.linkUp()
        #expect(first.map(\.topic) == ["t/1", "t/2"] && Set(first.compactMap(\.packetIdentifier)).count == 2)
        #expect(outbox.enqueue(publish("live", .atMostOnce)).map(\.topic) == ["live"])
        let released = outbox.acknowledged(first[0].packetIdentifier!, reason: .success)
        #expect(released.map(\.topic) == ["t/3"])
        #expect(outbox.acknowledged(first[0].packetIdentifier!, reason: .success).isEmpty)  // a repeated PUBACK

        // The link drops with t/2 and t/3 in flight: they go again, DUP and in order, on the next link.
        outbox.linkDown()
        #expect(outbox.enqueue(publish("t/5", .atLeastOnce)).isEmpty)
        let again = outbox.linkUp()
        #expect(again.map(\.topic) == ["t/2", "t/3"] && again.allSatisfy(\.dup))
        let refused = outbox.acknowledged(again[0].packetIdentifier!, reason: .quotaExceeded)
        #expect(refused.map(\.topic) == ["t/5"] && outbox.drops[.refusedByPeer] == 1)

        // The peer leaves: what was still here is counted as dropped.
        outbox.peerLeft()
        #expect(outbox.drops[.peerLeft] == 2 && outbox.queuedCount == 0 && outbox.inflightCount == 0 && !outbox.isUp)
        // t/1, t/2, live, t/3, t/5: a message sent again is not counted twice.
        #expect(outbox.forwarded == 5)
    }
}
