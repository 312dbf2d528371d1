import MeridianBrokerCore
import MeridianClusterCore
import MeridianMQTT
import NIOCore
import Testing

/// The inter-node link's pure parts: the handshake's verdicts, the wire form of route updates, what
/// each packet from the peer and from this node's session of the peer means.
@Suite struct PeerLinkTests {
    private let secret = "correct-horse-battery-staple"
    private let a = PeerHandshake.Hello(cluster: "eu", node: "node-a", incarnation: 7)

    @Test func handshakeAcceptsOnlyTheSecretAndTheCluster() {
        let connect = PeerHandshake.connect(a, secret: secret, keepAlive: 5)
        #expect(PeerHandshake.verify(connect, cluster: "eu", node: "node-b", secret: secret, joined: true) == .accept(a))

        let wrongSecret = PeerHandshake.connect(a, secret: secret + "x", keepAlive: 5)
        let shortSecret = PeerHandshake.connect(a, secret: String(secret.dropLast()), keepAlive: 5)
        for connect in [wrongSecret, shortSecret] {
            guard case .refuse(let reason, _) = PeerHandshake.verify(connect, cluster: "eu", node: "node-b", secret: secret, joined: true) else {
                Issue.record("a wrong secret was accepted")
                continue
            }
            #expect(reason == .badUserNameOrPassword)
        }
        var noPassword = connect
        noPassword.password = nil
        let refusedWithout = PeerHandshake.verify(noPassword, cluster: "eu", node: "node-b", secret: secret, joined: true)
        #expect(refusedWithout != .accept(a))
        let otherCluster = PeerHandshake.verify(connect, cluster: "us", node: "node-b", secret: secret, joined: true)
        #expect(otherCluster != .accept(a))
        // A node answering its own name, and an ordinary MQTT client, are not links.
        let ownName = PeerHandshake.verify(connect, cluster: "eu", node: "node-a", secret: secret, joined: true)
        #expect(ownName != .accept(a))
        let device = MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientIdentifier: "sensor-1", password: ByteBuffer(string: secret))
        let deviceVerdict = PeerHandshake.verify(device, cluster: "eu", node: "node-b", secret: secret, joined: true)
        #expect(deviceVerdict == .refuse(.notAuthorized, "not an inter-node link"))
        // A node that has not joined yet takes no link, however good the proof.
        let starting = PeerHandshake.verify(connect, cluster: "eu", node: "node-b", secret: secret, joined: false)
        #expect(starting == .refuse(.serverUnavailable, "node node-a: this node has not joined its cluster yet"))
    }

    @Test func aCertificateMustNameItsNode() {
        let connect = PeerHandshake.connect(a, secret: secret, keepAlive: 5)
        func verify(_ name: String?) -> PeerHandshake.Verdict {
            PeerHandshake.verify(connect, cluster: "eu", node: "node-b", secret: secret, joined: true, proof: .certificate(commonName: name))
        }
        #expect(verify("node-a") == .accept(a))
        #expect(verify("node-c") == .refuse(.notAuthorized, #"node node-a: its certificate is for "node-c""#))
        #expect(verify(nil) == .refuse(.notAuthorized, "node node-a: its certificate is for no name"))
        let connack = PeerHandshake.connack(a)
        #expect(PeerHandshake.answer(connack, expectedNode: "node-a", proof: .certificate(commonName: "node-a")) == .accepted(a))
        #expect(PeerHandshake.answer(connack, expectedNode: "node-a", proof: .certificate(commonName: "node-b")) == .wrongCertificate(commonName: "node-b"))
        #expect(PeerHandshake.answer(connack, expectedNode: "node-a", proof: .none) == .accepted(a))
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

    @Test("retained values cross a link with their versions: a forwarded one carries it, the exchange at link-up is read as values (QoS, expiry and clears kept), a garbled mark closes the link")
    func retainedValuesOnTheWire() {
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        let version = RetainedVersion(time: 1_700_000_000_123_456_789, node: "node-a")
        var forwarded = MQTTPublish(
            topic: "state/valve", payload: ByteBuffer(string: "open"), qos: .atLeastOnce, retain: true, dup: false,
            packetIdentifier: 3, properties: [.userProperty("app", "1"), .userProperty(PeerSession.retainedVersionKey, version.description)])
        guard case .message(let message, _, nil, _) = PeerWire.read(.publish(forwarded), from: "node-a", now: now) else {
            Issue.record("a forwarded retained message was not read as one")
            return
        }
        #expect(message.retainedVersion == version && message.properties == [.userProperty("app", "1")])
        forwarded.properties = [.userProperty(PeerSession.retainedVersionKey, "soon node-a")]
        guard case .invalid = PeerWire.read(.publish(forwarded), from: "node-a", now: now) else {
            Issue.record("a garbled version was accepted")
            return
        }

        var value = BrokerMessage(
            topic: "state/pump", payload: ByteBuffer(string: "on"), qos: .exactlyOnce, retain: true,
            properties: [.contentType("text/plain")], expiresAt: now + .seconds(90))
        value.retainedVersion = version
        let sent = PeerWire.publish(retained: "state/pump", RetainedMessages.Entry(message: value, version: version), now: now)
        #expect(sent.qos == .atMostOnce && sent.retain && sent.packetIdentifier == nil)
        guard case .retainedValue("state/pump", let read?, version) = PeerWire.read(.publish(sent), from: "node-a", now: now) else {
            Issue.record("a retained value was not read as one")
            return
        }
        #expect(read.qos == .exactlyOnce && read.fromPeer && String(buffer: read.payload) == "on")
        #expect(read.properties == [.contentType("text/plain")] && read.remainingExpiry(at: now) == 90)

        let clear = PeerWire.publish(retained: "state/gone", RetainedMessages.Entry(message: nil, version: version), now: now)
        guard case .retainedValue("state/gone", nil, version) = PeerWire.read(.publish(clear), from: "node-a", now: now) else {
            Issue.record("a clear was not read as one")
            return
        }
        var garbled = clear
        garbled.properties = [.userProperty(PeerSession.retainedValueKey, "7 12 node-a")]
        guard case .invalid = PeerWire.read(.publish(garbled), from: "node-a", now: now) else {
            Issue.record("a value with QoS 7 was accepted")
            return
        }
    }

    @Test func whatThePeersPacketsMean() {
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        var publish = MQTTPublish(
            topic: "cmd/valve", payload: ByteBuffer(string: "open"), qos: .exactlyOnce, retain: true, dup: false,
            packetIdentifier: 7, properties: [.userProperty("app", "1"), .messageExpiryInterval(30)])
        guard case .message(let message, let packetIdentifier, let group, false) = PeerWire.read(.publish(publish), from: "node-a", now: now) else {
            Issue.record("a forwarded message was not read as one")
            return
        }
        // Routed here only, as published: QoS, retain flag, properties, the remaining expiry.
        #expect(message.fromPeer && message.qos == .exactlyOnce && message.retain && packetIdentifier == 7 && group == nil)
        #expect(message.properties == [.userProperty("app", "1")] && message.remainingExpiry(at: now) == 30)

        // A delivery for one member of a shared group: the mark is read and removed.
        var marked = publish
        marked.properties.append(.userProperty(PeerSession.sharedGroupKey, "workers"))
        guard case .message(let forGroup, _, "workers", _) = PeerWire.read(.publish(marked), from: "node-a", now: now) else {
            Issue.record("the shared group's mark was not read")
            return
        }
        #expect(forGroup.properties == [.userProperty("app", "1")])

        let update = RouteUpdate(node: "node-a", incarnation: 3, sequence: 4, change: .add("x/#"))
        guard case .routeUpdate(let read) = PeerWire.read(.publish(PeerWire.publish(update)), from: "node-a", now: now) else {
            Issue.record("a route update was not read as one")
            return
        }
        #expect(read == update)
        // An update in another node's name, or a garbled one, closes the link.
        guard case .invalid = PeerWire.read(.publish(PeerWire.publish(update)), from: "node-b", now: now) else {
            Issue.record("an update for another node was accepted")
            return
        }
        publish.topic = PeerWire.routesTopic
        guard case .invalid = PeerWire.read(.publish(publish), from: "node-a", now: now) else {
            Issue.record("a garbled update was accepted")
            return
        }
        guard case .snapshotRequest = PeerWire.read(.publish(PeerWire.snapshotRequest), from: "node-a", now: now),
            case .acknowledgement(.puback) = PeerWire.read(.puback(MQTTAck(packetIdentifier: 1)), from: "node-a", now: now),
            case .acknowledgement(.pubrec) = PeerWire.read(.pubrec(MQTTAck(packetIdentifier: 1)), from: "node-a", now: now),
            case .release(9) = PeerWire.read(.pubrel(MQTTAck(packetIdentifier: 9)), from: "node-a", now: now),
            case .ping = PeerWire.read(.pingreq, from: "node-a", now: now),
            case .invalid = PeerWire.read(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [])), from: "node-a", now: now)
        else {
            Issue.record("a control packet was misread")
            return
        }
    }

    @Test func whatTheSessionOfThePeerSends() {
        let publish = MQTTPublish(topic: "t", payload: ByteBuffer(), qos: .atLeastOnce, retain: false, dup: false, packetIdentifier: 3)
        #expect(PeerWire.read(fromSession: .publish(publish)) == .toPeer(.publish(publish)))
        #expect(PeerWire.read(fromSession: .pubrel(MQTTAck(packetIdentifier: 3))) == .toPeer(.pubrel(MQTTAck(packetIdentifier: 3))))
        #expect(PeerWire.read(fromSession: .connack(MQTTConnack(sessionPresent: true, reasonCode: .success))) == PeerWire.FromSession.none)
        #expect(PeerWire.read(fromSession: .connack(MQTTConnack(sessionPresent: false, reasonCode: .serverUnavailable))) == .closed(.serverUnavailable))
        #expect(PeerWire.read(fromSession: .disconnect(MQTTDisconnect(reasonCode: .sessionTakenOver))) == .closed(.sessionTakenOver))
        #expect(PeerWire.read(fromSession: .suback(MQTTSuback(packetIdentifier: 1, reasonCodes: [.grantedQoS2]))) == PeerWire.FromSession.none)
    }

    @Test func theSessionOfAPeerFollowsItsRoutes() {
        let changes = PeerWire.subscriptionChanges(from: ["a", "b/#", "c"], to: ["b/#", "d", "e/+"])
        #expect(changes.subscribe == ["d", "e/+"] && changes.unsubscribe == ["a", "c"])
        let none = PeerWire.subscriptionChanges(from: ["x"], to: ["x"])
        #expect(none.subscribe.isEmpty && none.unsubscribe.isEmpty)
        #expect(PeerSession.isPeer(PeerSession.clientIdentifier(for: "node-a")) && !PeerSession.isPeer("node-a"))
        #expect(PeerSession.subscriptionOptions.retainHandling == .doNotSend && PeerSession.subscriptionOptions.retainAsPublished)
    }
}
