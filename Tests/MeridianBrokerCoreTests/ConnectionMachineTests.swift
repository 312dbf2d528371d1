import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import Testing

/// Transcripts of a connection's life: packets and timer checks in, actions out, no socket.
@Suite struct ConnectionMachineTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func connect(_ version: MQTTProtocolVersion, keepAlive: UInt16 = 10) -> MQTTConnect {
        MQTTConnect(protocolVersion: version, cleanStart: true, keepAlive: keepAlive, clientIdentifier: "c")
    }

    private func connected(_ version: MQTTProtocolVersion, keepAlive: UInt16 = 10) -> ConnectionMachine {
        var machine = ConnectionMachine()
        _ = machine.received(.connect(connect(version, keepAlive: keepAlive)))
        machine.admitting()
        _ = machine.accepted(keepAlive: keepAlive, now: start)
        return machine
    }

    @Test func theFirstPacketMustBeConnect() {
        var v3 = ConnectionMachine()
        #expect(v3.received(.pingreq) == .close(answer: nil))
        #expect(v3.phase == .closing && v3.willSuppressed)
        #expect(v3.received(.pingreq) == .none)  // nothing after the close

        var v5 = ConnectionMachine()
        let action = v5.violation(MQTTCodecError(.protocolError, "x"), announcedVersion: .v5)
        #expect(action == .close(answer: .connack(MQTTConnack(sessionPresent: false, reasonCode: .protocolError))))
    }

    @Test func anUnsupportedVersionIsAnsweredIn311Format() {
        var machine = ConnectionMachine()
        let action = machine.violation(MQTTCodecError(.unsupportedProtocolVersion, "version 9"), announcedVersion: .v5)
        #expect(action == .close(answer: .connack(MQTTConnack(sessionPresent: false, reasonCode: .v3UnacceptableProtocolVersion))))
        #expect(machine.version == .v3_1_1)
    }

    @Test func connectThenAdmissionThenSessionPackets() {
        var machine = ConnectionMachine()
        let hello = connect(.v5)
        #expect(machine.received(.connect(hello)) == .connect(hello))
        #expect(machine.version == .v5)
        machine.admitting()
        #expect(!machine.isReceiving)
        #expect(machine.received(.pingreq) == .none)  // not read while admitting
        #expect(machine.accepted(keepAlive: 10, now: start) == start + .seconds(15))
        #expect(machine.isReceiving && machine.phase == .connected)
        let publish = MQTTPacket.publish(MQTTPublish(topic: "t", payload: ByteBuffer(), qos: .atMostOnce, retain: false))
        #expect(machine.received(publish) == .session(publish))
        #expect(machine.received(.pingreq) == .send(.pingresp))
    }

    @Test func protocolErrorsOfAConnectedClient() {
        var v5 = connected(.v5)
        #expect(v5.received(.connect(connect(.v5))) == .close(answer: .disconnect(MQTTDisconnect(reasonCode: .protocolError))))
        #expect(!v5.willSuppressed)  // a connected client that breaks the protocol has its will published

        var v3 = connected(.v3_1_1)
        #expect(v3.received(.pingresp) == .close(answer: nil))
        var auth = connected(.v5)
        #expect(auth.received(.auth(MQTTAuth(reasonCode: .success))) == .close(answer: .disconnect(MQTTDisconnect(reasonCode: .protocolError))))
    }

    @Test func refusalsAreMappedFor311AndCarryTheServerReferenceFor5() {
        var v3 = ConnectionMachine()
        _ = v3.received(.connect(connect(.v3_1_1)))
        #expect(v3.refused(.notAuthorized) == .close(answer: .connack(MQTTConnack(sessionPresent: false, reasonCode: MQTTReasonCode.notAuthorized.v3ConnackReturnCode))))
        #expect(v3.willSuppressed)

        var v5 = ConnectionMachine()
        _ = v5.received(.connect(connect(.v5)))
        v5.admitting()
        var properties = MQTTProperties()
        properties.append(.serverReference("other:1883"))
        #expect(v5.refused(.useAnotherServer, serverReference: "other:1883")
            == .close(answer: .connack(MQTTConnack(sessionPresent: false, reasonCode: .useAnotherServer, properties: properties))))
    }

    @Test func keepAliveExpiresAtOneAndAHalfTimesUnlessHeard() {
        var machine = connected(.v5, keepAlive: 10)
        #expect(machine.checkKeepAlive(now: start + .seconds(14)) == .checkAgain(at: start + .seconds(15)))
        machine.heard(at: start + .seconds(14))
        #expect(machine.checkKeepAlive(now: start + .seconds(15)) == .checkAgain(at: start + .seconds(29)))
        #expect(machine.checkKeepAlive(now: start + .seconds(29))
            == .expired(.close(answer: .disconnect(MQTTDisconnect(reasonCode: .keepAliveTimeout)))))
        #expect(!machine.willSuppressed && machine.phase == .closing)
        #expect(machine.checkKeepAlive(now: start + .seconds(40)) == .unwatched)

        var zero = connected(.v3_1_1, keepAlive: 0)
        #expect(zero.checkKeepAlive(now: start + .seconds(1_000)) == .unwatched)
    }

    @Test func connectTimeoutOnlyBeforeConnect() {
        var waiting = ConnectionMachine()
        #expect(waiting.connectTimedOut() == .close(answer: nil))
        var machine = connected(.v3_1_1)
        #expect(machine.connectTimedOut() == nil)
    }

    @Test func disconnectReasonDecidesTheWill() {
        var normal = connected(.v5)
        #expect(normal.received(.disconnect(MQTTDisconnect(reasonCode: .success))) == .clientDisconnect(MQTTDisconnect(reasonCode: .success)))
        #expect(normal.clientDisconnected(MQTTDisconnect(reasonCode: .success)) == .close(answer: nil))
        #expect(normal.willSuppressed)

        var withWill = connected(.v5)
        _ = withWill.clientDisconnected(MQTTDisconnect(reasonCode: .disconnectWithWillMessage))
        #expect(!withWill.willSuppressed)
    }

    @Test func aFencedNodeSendsItsClientsElsewhere() {
        var v5 = connected(.v5)
        var properties = MQTTProperties()
        properties.append(.serverReference("127.0.0.1:1884"))
        #expect(v5.redirect(reason: .useAnotherServer, serverReference: "127.0.0.1:1884")
            == .close(answer: .disconnect(MQTTDisconnect(reasonCode: .useAnotherServer, properties: properties))))
        #expect(!v5.willSuppressed)
        var v3 = connected(.v3_1_1)
        #expect(v3.redirect(reason: .useAnotherServer, serverReference: "127.0.0.1:1884") == .close(answer: nil))
    }

    @Test func takeoverSaysWhyAndKeepsOrCancelsTheWill() {
        var v5 = connected(.v5)
        #expect(v5.takeOver(willCancelled: true) == .close(answer: .disconnect(MQTTDisconnect(reasonCode: .sessionTakenOver))))
        #expect(v5.takenOver && v5.willSuppressed)

        var v3 = connected(.v3_1_1)
        #expect(v3.takeOver(willCancelled: false) == .close(answer: nil))
        #expect(v3.takenOver && !v3.willSuppressed)

        var serverClose = connected(.v5)
        #expect(serverClose.disconnect(reason: .administrativeAction, publishWill: false)
            == .close(answer: .disconnect(MQTTDisconnect(reasonCode: .administrativeAction))))
        #expect(serverClose.willSuppressed)
    }
}
