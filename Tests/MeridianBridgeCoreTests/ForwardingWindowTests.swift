import MeridianBridgeCore
import MeridianMQTT
import Testing

private typealias Window = ForwardingWindow

private func q1(_ id: OutboxID, retain: Bool = false, size: Int = 100) -> Window.Message {
    Window.Message(id: id, qos: .atLeastOnce, retain: retain, encodedSize: size)
}
private func q2(_ id: OutboxID, size: Int = 100) -> Window.Message {
    Window.Message(id: id, qos: .exactlyOnce, encodedSize: size)
}
private func q0(_ id: OutboxID, size: Int = 100) -> Window.Message {
    Window.Message(id: id, qos: .atMostOnce, encodedSize: size)
}
private func send(_ id: OutboxID, _ pid: UInt16?, _ qos: MQTTQoS = .atLeastOnce, retain: Bool = false, dup: Bool = false)
    -> Window.Action
{
    .send(Window.Send(id: id, packetIdentifier: pid, qos: qos, retain: retain, dup: dup))
}
private func ack(_ pid: UInt16, _ code: MQTTReasonCode = .success) -> MQTTAck {
    MQTTAck(packetIdentifier: pid, reasonCode: code)
}

@Suite("ForwardingWindow")
struct ForwardingWindowTests {
    @Test func capacityIsTheSmallerOfDrainMaxInflightAndReceiveMaximum() {
        var window = Window(drainMaxInflight: 100)
        _ = window.connected(.init(receiveMaximum: 20))
        #expect(window.capacity == 20)
        _ = window.connected(.init())
        #expect(window.capacity == 100)
        let connack = MQTTConnack(sessionPresent: false, reasonCode: .success, properties: [.receiveMaximum(3)])
        _ = window.connected(.init(connack: connack))
        #expect(window.capacity == 3)
    }

    @Test func qos1TranscriptDeletesOnlyOnPuback() {
        var window = Window(drainMaxInflight: 2)
        #expect(window.connected(.init()) == [])
        #expect(window.wanted == 2)
        #expect(window.accept([q1(10), q1(11), q1(12)]) == [send(10, 1), send(11, 2)])
        #expect(window.wanted == 0)
        #expect(window.pendingCount == 1)
        #expect(window.pubackReceived(ack(2)) == [.delete([11]), send(12, 3)])
        #expect(window.pubackReceived(ack(2)) == [], "a repeated PUBACK is ignored")
        #expect(window.pubackReceived(ack(1)) == [.delete([10])])
        #expect(window.pubackReceived(ack(3)) == [.delete([12])])
        #expect(window.inFlightCount == 0 && window.wanted == 2)
        #expect(window.lastAcceptedID == 12)
        #expect(window.accept([q1(12), q1(9)]) == [], "rows already accepted are ignored")
    }

    @Test func qos2TranscriptDeletesOnlyOnPubcomp() {
        var window = Window(drainMaxInflight: 1)
        _ = window.connected(.init())
        #expect(window.accept([q2(1), q2(2)]) == [send(1, 1, .exactlyOnce)])
        #expect(window.pubcompReceived(ack(1)) == [], "PUBCOMP before PUBREC is ignored")
        #expect(window.pubackReceived(ack(1)) == [], "PUBACK for QoS 2 is ignored")
        #expect(window.pubrecReceived(ack(1)) == [.sendPubrel(packetIdentifier: 1, id: 1)])
        #expect(window.inFlightCount == 1, "the slot is held until PUBCOMP")
        #expect(window.pubrecReceived(ack(1)) == [.sendPubrel(packetIdentifier: 1, id: 1)])
        #expect(window.pubcompReceived(ack(1)) == [.delete([1]), send(2, 2, .exactlyOnce)])
        #expect(window.pubrecReceived(ack(2)) == [.sendPubrel(packetIdentifier: 2, id: 2)])
        #expect(window.pubcompReceived(ack(2, .packetIdentifierNotFound)) == [.delete([2])])
    }

    @Test func reconnectResendsWithDupAndTheSamePacketIdentifierBeforeNewMessages() {
        var window = Window(drainMaxInflight: 3)
        _ = window.connected(.init())
        #expect(window.accept([q1(1), q2(2), q1(3), q1(4)]) == [send(1, 1), send(2, 2, .exactlyOnce), send(3, 3)])
        #expect(window.pubrecReceived(ack(2)) == [.sendPubrel(packetIdentifier: 2, id: 2)])
        window.connectionLost()
        #expect(window.pubackReceived(ack(1)) == [], "acks from the old connection are not taken")
        #expect(window.accept([q1(5)]) == [], "nothing is sent while down")
        #expect(
            window.connected(.init())
                == [send(1, 1, dup: true), .sendPubrel(packetIdentifier: 2, id: 2), send(3, 3, dup: true)]
        )
        #expect(window.pubackReceived(ack(3)) == [.delete([3]), send(4, 4)])
        #expect(window.pubackReceived(ack(1)) == [.delete([1]), send(5, 5)])
        #expect(window.pubcompReceived(ack(2)) == [.delete([2])])
    }

    @Test func aSmallerReceiveMaximumAfterReconnectResendsInTurn() {
        var window = Window(drainMaxInflight: 3)
        _ = window.connected(.init())
        _ = window.accept([q1(1), q1(2), q1(3), q1(4)])
        window.connectionLost()
        #expect(window.connected(.init(receiveMaximum: 1)) == [send(1, 1, dup: true)])
        #expect(window.pubackReceived(ack(1)) == [.delete([1]), send(2, 2, dup: true)])
        #expect(window.pubackReceived(ack(2)) == [.delete([2]), send(3, 3, dup: true)])
        #expect(window.pubackReceived(ack(3)) == [.delete([3]), send(4, 4)])
    }

    @Test func refusalsAreCountedAndDeletedNotRetried() {
        var window = Window(drainMaxInflight: 4)
        _ = window.connected(.init())
        _ = window.accept([q1(1), q2(2), q1(3)])
        #expect(window.pubackReceived(ack(1, .notAuthorized)) == [.refused(1, .notAuthorized), .delete([1])])
        #expect(window.pubrecReceived(ack(2, .topicNameInvalid)) == [.refused(2, .topicNameInvalid), .delete([2])])
        #expect(window.window == 4, "only 0x97 slows down")
        #expect(window.pubackReceived(ack(3, .noMatchingSubscribers)) == [.delete([3])], "0x10 is a success")
    }

    @Test func quotaExceededHalvesTheWindowThenRecoversAdditively() {
        var window = Window(drainMaxInflight: 8)
        _ = window.connected(.init())
        let first = window.accept((1...12).map { q1($0) })
        #expect(first.count == 8)
        #expect(window.pubackReceived(ack(1, .quotaExceeded)) == [.refused(1, .quotaExceeded), .delete([1])])
        #expect(window.window == 4)
        // Seven still on the wire, above the halved window: acks send nothing new until below it.
        #expect(window.pubackReceived(ack(2, .quotaExceeded)) == [.refused(2, .quotaExceeded), .delete([2])])
        #expect(window.window == 2)
        #expect(window.pubackReceived(ack(3)) == [.delete([3])])
        #expect(window.window == 3)
        #expect(window.pubackReceived(ack(4)) == [.delete([4])])
        #expect(window.window == 4)
        // Three on the wire (6, 7, 8) and a window of 5: room for two.
        #expect(window.pubackReceived(ack(5)) == [.delete([5]), send(9, 9), send(10, 10)])
        #expect(window.pubackReceived(ack(6)) == [.delete([6]), send(11, 11), send(12, 12)])
        #expect(window.window == 6)
        #expect(window.pubackReceived(ack(7)) == [.delete([7])])
        #expect(window.window == 7)
        _ = window.pubackReceived(ack(8))
        #expect(window.window == 8, "back to capacity")
    }

    @Test func quotaExceededNeverGoesBelowOne() {
        var window = Window(drainMaxInflight: 1)
        _ = window.connected(.init())
        _ = window.accept([q1(1), q1(2)])
        #expect(window.pubackReceived(ack(1, .quotaExceeded)) == [.refused(1, .quotaExceeded), .delete([1]), send(2, 2)])
        #expect(window.window == 1)
    }

    @Test func maximumQoSDowngrades() {
        var window = Window(drainMaxInflight: 5)
        _ = window.connected(.init(maximumQoS: .atLeastOnce))
        #expect(window.accept([q2(1)]) == [send(1, 1, .atLeastOnce)])
        #expect(window.pubackReceived(ack(1)) == [.delete([1])])
        _ = window.connected(.init(maximumQoS: .atMostOnce))
        #expect(window.accept([q2(2), q1(3)]) == [send(2, nil, .atMostOnce), send(3, nil, .atMostOnce), .delete([2, 3])])
        #expect(window.inFlightCount == 0)
    }

    @Test func qos0IsSentAndDeletedWithoutTakingASlot() {
        var window = Window(drainMaxInflight: 1)
        _ = window.connected(.init())
        #expect(window.accept([q1(1), q0(2), q1(3), q0(4)]) == [send(1, 1), send(2, nil, .atMostOnce), .delete([2])])
        #expect(window.pubackReceived(ack(1)) == [.delete([1]), send(3, 2), send(4, nil, .atMostOnce), .delete([4])])
    }

    @Test func retainIsClearedWhenTheRemoteHasNoRetain() {
        var window = Window(drainMaxInflight: 5)
        _ = window.connected(.init(retainAvailable: false))
        #expect(window.accept([q1(1, retain: true)]) == [send(1, 1, retain: false)])
        // A resend keeps the header it was first sent with.
        #expect(window.connected(.init(retainAvailable: true)) == [send(1, 1, dup: true)])
        #expect(window.accept([q1(2, retain: true)]) == [send(2, 2, retain: true)])
        let connack = MQTTConnack(sessionPresent: true, reasonCode: .success, properties: [.retainAvailable(0), .maximumQoS(1)])
        #expect(Window.RemoteLimits(connack: connack) == .init(maximumQoS: .atLeastOnce, retainAvailable: false))
    }

    @Test func messagesLargerThanTheMaximumPacketSizeAreDropped() {
        var window = Window(drainMaxInflight: 5)
        _ = window.connected(.init(maximumPacketSize: 100))
        #expect(
            window.accept([q1(1, size: 100), q1(2, size: 101), q0(3, size: 101), q1(4, size: 50)])
                == [send(1, 1), .dropped(2, .packetTooLarge), .dropped(3, .packetTooLarge), send(4, 2), .delete([2, 3])]
        )
        // Downgraded to QoS 0 the packet identifier's two bytes go.
        _ = window.connected(.init(maximumQoS: .atMostOnce, maximumPacketSize: 100))
        #expect(window.accept([q1(5, size: 102), q1(6, size: 103)]).contains(.dropped(6, .packetTooLarge)))
        // A new remote with a smaller limit: in-flight messages too large for it are dropped too.
        window.connectionLost()
        #expect(
            window.connected(.init(maximumPacketSize: 60))
                == [.dropped(1, .packetTooLarge), send(4, 2, dup: true), .delete([1])]
        )
    }

    @Test func packetIdentifiersSkipThoseInUseAndWrap() {
        var window = Window(drainMaxInflight: 3)
        _ = window.connected(.init())
        _ = window.accept([q1(1)])
        // Cycle through identifiers 2...65535 while 1 stays in flight.
        for id in OutboxID(2)...65_535 {
            let actions = window.accept([q1(id)])
            #expect(actions == [send(id, UInt16(id))])
            _ = window.pubackReceived(ack(UInt16(id)))
        }
        #expect(window.accept([q1(70_000)]) == [send(70_000, 2)], "1 is still in use")
        #expect(window.packetIdentifier(for: 1) == 1)
        #expect(window.inFlightIdentifiers.map(\.packetIdentifier) == [1, 2])
    }

    @Test func wantedTellsThePumpHowManyRowsToRead() {
        var window = Window(drainMaxInflight: 4)
        #expect(window.wanted == 4)
        #expect(window.accept([q1(1), q1(2)]) == [], "accepted while down")
        #expect(window.wanted == 2)
        #expect(window.connected(.init(receiveMaximum: 2)) == [send(1, 1), send(2, 2)])
        #expect(window.wanted == 0)
    }
}
