import Logging
import MeridianBrokerCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import MeridianBroker

/// An admission whose answers the test gives by hand, later: what a region node asking its
/// cluster looks like to the connection.
final class ManualAdmission: SessionAdmission, @unchecked Sendable {
    let requests = NIOLockedValueBox<[(AdmissionRequest, EventLoopPromise<AdmissionDecision>)]>([])

    func admit(_ request: AdmissionRequest, on eventLoop: EventLoop) -> EventLoopFuture<AdmissionDecision> {
        let promise = eventLoop.makePromise(of: AdmissionDecision.self)
        requests.withLockedValue { $0.append((request, promise)) }
        return promise.futureResult
    }

    func answer(_ decision: AdmissionDecision) {
        let pending = requests.withLockedValue { $0.removeFirst() }
        pending.1.succeed(decision)
    }
}

/// Transcripts of the admission seam: a CONNECT waits for the answer, the client's later packets
/// wait with it, and refusals and redirections reach the client as CONNACK codes.
@Suite struct AdmissionHandlerTests {
    static func broker(_ admission: ManualAdmission) -> EmbeddedBroker {
        EmbeddedBroker { Broker(settings: BrokerSettings(), logger: Logger(label: "test"), admission: admission, clock: $0) }
    }

    @Test("packets after CONNECT wait for the admission, then are handled in order")
    func packetsWaitForAdmission() throws {
        let admission = ManualAdmission()
        let broker = Self.broker(admission)
        let client = try broker.connect(.v5, clientID: "waiting")
        try client.send(.publish(MQTTPublish(topic: "t", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, packetIdentifier: 1)))
        #expect(try client.received().isEmpty, "nothing before the answer")
        let request = try #require(admission.requests.withLockedValue { $0.first?.0 })
        #expect(request == AdmissionRequest(clientIdentifier: "waiting", username: nil, cleanStart: true, protocolVersion: .v5))
        admission.answer(.admit)
        broker.loop.run()
        let packets = try client.received()
        #expect(packets.count == 2)
        guard case .connack(let connack) = packets.first else { Issue.record("no CONNACK: \(packets)"); return }
        #expect(connack.reasonCode == .success)
        #expect(packets.last == .puback(MQTTAck(packetIdentifier: 1, reasonCode: .noMatchingSubscribers)))
    }

    @Test("a redirection is CONNACK 0x9D with a Server Reference in 5.0, return code 3 in 3.1.1",
          arguments: [MQTTProtocolVersion.v5, .v3_1_1])
    func redirect(version: MQTTProtocolVersion) throws {
        let admission = ManualAdmission()
        let broker = Self.broker(admission)
        let client = try broker.connect(version, clientID: "elsewhere")
        admission.answer(.redirect(reason: .serverMoved, serverReference: "node-b:1883"))
        broker.loop.run()
        let packets = try client.received()
        guard case .connack(let connack) = packets.first else { Issue.record("no CONNACK: \(packets)"); return }
        if version == .v5 {
            #expect(connack.reasonCode == .serverMoved)
            #expect(connack.properties.serverReference == "node-b:1883")
        } else {
            #expect(connack.reasonCode == .v3ServerUnavailable)
        }
        #expect(!client.channel.isActive)
        #expect(broker.broker.lock.withLock { broker.broker.sessions["elsewhere"] } == nil, "no session was made")
    }

    @Test("a refusal is its CONNACK code, and the session is not touched")
    func refuse() throws {
        let admission = ManualAdmission()
        let broker = Self.broker(admission)
        let client = try broker.connect(.v5, clientID: "fenced")
        admission.answer(.refuse(.serverUnavailable))
        broker.loop.run()
        #expect(try client.received() == [.connack(MQTTConnack(sessionPresent: false, reasonCode: .serverUnavailable))])
        #expect(!client.channel.isActive)
    }

    @Test("the edge's local admission answers inside the CONNECT: CONNACK at once")
    func localAdmissionIsImmediate() throws {
        let broker = EmbeddedBroker()
        let client = try broker.connect(.v5, clientID: "local")
        guard case .connack(let connack) = try client.received().first else { Issue.record("no CONNACK"); return }
        #expect(connack.reasonCode == .success)
    }
}
