@testable import MeridianBroker
import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import NIOEmbedded
import Testing

/// The in-process client (the bridge's local side) against the real connection handler on an
/// embedded loop: packets in as values, packets out as values, batches handed over with `execute`.
@Suite("In-process client")
struct InProcessClientTests {
    final class Recorder {
        var packets: [MQTTPacket] = []
        var closes = 0
    }

    /// An in-process client of `broker` and what it receives.
    private func open(_ broker: EmbeddedBroker, limits: OutboundFlow.Limits = .init()) -> (InProcessClient, Recorder) {
        let recorder = Recorder()
        broker.nextID += 1
        let handler = MQTTConnectionHandler(broker: broker.broker, loopContext: broker.context, connectionID: broker.nextID)
        let client = InProcessClient(
            server: handler, loop: broker.loop, sessionLimits: limits,
            onPacket: { recorder.packets.append($0) }, onClose: { recorder.closes += 1 })
        handler.transport = .inProcess(client)
        return (client, recorder)
    }

    private func send(_ client: InProcessClient, _ packets: MQTTPacket..., on broker: EmbeddedBroker) {
        for packet in packets { client.send(packet) }
        client.flush()
        broker.loop.run()
    }

    private static let connect = MQTTPacket.connect(MQTTConnect(
        protocolVersion: .v5, cleanStart: true, keepAlive: 0, clientIdentifier: "local.bridge",
        properties: [.sessionExpiryInterval(0)]))

    @Test("CONNECT, SUBSCRIBE and a device's PUBLISH: the in-process client gets the packets as values, the payload is the device's")
    func exchange() throws {
        let broker = EmbeddedBroker()
        let (client, recorder) = open(broker)
        send(client, Self.connect, .subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [
            MQTTSubscription(topicFilter: "up/#", options: .init(qos: .atLeastOnce, noLocal: true)),
        ])), on: broker)
        guard case .connack(let connack) = recorder.packets.first else { Issue.record("\(recorder.packets)"); return }
        #expect(connack.reasonCode == .success)
        #expect(recorder.packets.dropFirst().first == .suback(MQTTSuback(packetIdentifier: 1, reasonCodes: [.grantedQoS1])))

        let device = try broker.connect(clientID: "device")
        _ = try device.received()
        try device.send(.publish(MQTTPublish(topic: "up/t", payload: ByteBuffer(string: "reading"), qos: .atLeastOnce, packetIdentifier: 3)))
        broker.loop.run()
        guard case .publish(let publish) = recorder.packets.last else { Issue.record("\(recorder.packets)"); return }
        #expect(publish.topic == "up/t" && String(buffer: publish.payload) == "reading" && publish.qos == .atLeastOnce)

        // The client's PUBACK frees the in-flight slot: nothing is resent and the session owes nothing.
        send(client, .puback(MQTTAck(packetIdentifier: publish.packetIdentifier!)), on: broker)
        #expect(broker.broker.queueStatistics(clientIdentifier: "local.bridge").map { $0.inflight } == 0)
    }

    @Test("the client's close detaches its session once; nothing is handed to it afterwards")
    func clientClose() {
        let broker = EmbeddedBroker()
        let (client, recorder) = open(broker)
        send(client, Self.connect, on: broker)
        #expect(broker.broker.sessions["local.bridge"]?.isOnline == true)
        client.close()
        client.close()
        broker.loop.run()
        #expect(recorder.closes == 1)
        // Session expiry 0: the session ended with the connection.
        #expect(broker.broker.sessions["local.bridge"] == nil)
        let count = recorder.packets.count
        send(client, .pingreq, on: broker)
        #expect(recorder.packets.count == count)
    }

    @Test("a broker-side close (a second CONNECT) hands over what was written first, then the close")
    func brokerClose() {
        let broker = EmbeddedBroker()
        let (client, recorder) = open(broker)
        send(client, Self.connect, Self.connect, on: broker)
        #expect(recorder.packets.count == 2)
        #expect(recorder.packets.last == .disconnect(MQTTDisconnect(reasonCode: .protocolError)))
        #expect(recorder.closes == 1)
        #expect(broker.broker.sessions["local.bridge"] == nil)
    }

    @Test("while the broker pauses reading (admission, backpressure), sent packets wait and are handled in order on resume")
    func pausedReading() throws {
        let broker = EmbeddedBroker()
        let (client, recorder) = open(broker)
        send(client, Self.connect, on: broker)
        client.server.setReading(false)
        send(client, .pingreq, .pingreq, on: broker)
        #expect(recorder.packets.count == 1)
        client.server.setReading(true)
        broker.loop.run()
        #expect(Array(recorder.packets.dropFirst()) == [.pingresp, .pingresp])
    }
}
