import Logging
@testable import MeridianBroker
import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import NIOEmbedded
import Testing

/// Keep-alive, will delay, session expiry and message expiry with time stepped on an
/// `EmbeddedEventLoop` (no sleeps).
@Suite struct TimedBehaviourTests {
    func subscribe(_ client: TestClient, _ filter: String, qos: MQTTQoS = .atMostOnce) throws {
        try client.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [
            MQTTSubscription(topicFilter: filter, options: .init(qos: qos)),
        ])))
        _ = try client.received()
    }

    func publishedTopics(_ client: TestClient) throws -> [String] {
        try client.received().compactMap { if case .publish(let p) = $0 { return p.topic } else { return nil } }
    }

    @Test func keepAliveTimeoutAtOneAndAHalfTimesClosesAndPublishesWill() throws {
        let broker = EmbeddedBroker()
        let watcher = try broker.connect(clientID: "watcher", keepAlive: 0)
        try subscribe(watcher, "will/#")
        let device = try broker.connect(clientID: "device", keepAlive: 2,
                                        will: MQTTWill(topic: "will/device", payload: ByteBuffer(string: "gone"), qos: .atMostOnce, retain: false))
        _ = try device.received()
        broker.loop.advanceTime(by: .milliseconds(2900))
        #expect(device.channel.isActive)
        broker.loop.advanceTime(by: .milliseconds(200))
        #expect(try device.received() == [.disconnect(MQTTDisconnect(reasonCode: .keepAliveTimeout))])
        #expect(!device.channel.isActive)
        #expect(try publishedTopics(watcher) == ["will/device"])
    }

    @Test func activityResetsKeepAlive() throws {
        let broker = EmbeddedBroker()
        let device = try broker.connect(clientID: "device", keepAlive: 2)
        for _ in 0..<5 {
            broker.loop.advanceTime(by: .seconds(2))
            try device.send(.pingreq)
        }
        #expect(device.channel.isActive)
        #expect(try device.received().filter { $0 == .pingresp }.count == 5)
    }

    @Test func willDelayIsHonouredAndCancelledByReconnect() throws {
        let broker = EmbeddedBroker()
        let watcher = try broker.connect(clientID: "watcher", keepAlive: 0)
        try subscribe(watcher, "will/#")
        let will = MQTTWill(topic: "will/late", payload: ByteBuffer(string: "x"), qos: .atMostOnce, retain: false,
                            properties: [.willDelayInterval(5)])

        // Crash, then come back within the delay: no will.
        let first = try broker.connect(clientID: "late", properties: [.sessionExpiryInterval(60)], will: will)
        _ = try first.channel.close().wait()
        broker.loop.advanceTime(by: .seconds(3))
        let back = try broker.connect(clientID: "late", cleanStart: false, properties: [.sessionExpiryInterval(60)])
        broker.loop.advanceTime(by: .seconds(10))
        #expect(try publishedTopics(watcher) == [])
        _ = back

        // Crash and stay away: the will goes out after 5 s, not before.
        let second = try broker.connect(clientID: "late2", properties: [.sessionExpiryInterval(60)], will: will)
        _ = try second.channel.close().wait()
        broker.loop.advanceTime(by: .seconds(4))
        #expect(try publishedTopics(watcher) == [])
        broker.loop.advanceTime(by: .seconds(2))
        #expect(try publishedTopics(watcher) == ["will/late"])
    }

    @Test func sessionExpiresAfterItsInterval() throws {
        let broker = EmbeddedBroker()
        let client = try broker.connect(clientID: "s", cleanStart: false, properties: [.sessionExpiryInterval(10)])
        try subscribe(client, "t", qos: .atLeastOnce)
        _ = try client.channel.close().wait()

        broker.loop.advanceTime(by: .seconds(9))
        let resumed = try broker.connect(clientID: "s", cleanStart: false, properties: [.sessionExpiryInterval(10)])
        guard case .connack(let present) = try resumed.received().first else { Issue.record("no CONNACK"); return }
        #expect(present.sessionPresent)
        _ = try resumed.channel.close().wait()

        broker.loop.advanceTime(by: .seconds(11))
        let late = try broker.connect(clientID: "s", cleanStart: false, properties: [.sessionExpiryInterval(10)])
        guard case .connack(let gone) = try late.received().first else { Issue.record("no CONNACK"); return }
        #expect(!gone.sessionPresent)
    }

    @Test func queuedMessageExpiresWhileSubscriberIsAway() throws {
        let broker = EmbeddedBroker()
        let sub = try broker.connect(clientID: "away", cleanStart: false, properties: [.sessionExpiryInterval(300)])
        try subscribe(sub, "e/#", qos: .atLeastOnce)
        _ = try sub.channel.close().wait()

        let pub = try broker.connect(clientID: "pub")
        try pub.send(.publish(MQTTPublish(topic: "e/short", payload: ByteBuffer(string: "1"), qos: .atLeastOnce,
                                          packetIdentifier: 1, properties: [.messageExpiryInterval(2)])))
        try pub.send(.publish(MQTTPublish(topic: "e/long", payload: ByteBuffer(string: "2"), qos: .atLeastOnce,
                                          packetIdentifier: 2, properties: [.messageExpiryInterval(100)])))
        broker.loop.advanceTime(by: .seconds(5))

        let back = try broker.connect(clientID: "away", cleanStart: false, properties: [.sessionExpiryInterval(300)])
        let publishes = try back.received().compactMap { if case .publish(let p) = $0 { return p } else { return nil } }
        #expect(publishes.map(\.topic) == ["e/long"])
        #expect(publishes.first?.properties.messageExpiryInterval == 95)
    }
}

/// The broker reads time only from the clock it is given: a `ManualClock` moves message expiry
/// while the event loop's own time stands still.
@Suite struct InjectedClockTests {
    @Test("a retained message's expiry follows the injected clock, not the loop's time")
    func retainedExpiryFollowsTheClock() throws {
        let clock = ManualClock()
        let broker = EmbeddedBroker { _ in Broker(settings: BrokerSettings(), logger: Logger(label: "test"), clock: clock) }
        let publisher = try broker.connect(clientID: "publisher")
        _ = try publisher.received()
        try publisher.send(.publish(MQTTPublish(
            topic: "state/door", payload: ByteBuffer(string: "open"), qos: .atMostOnce, retain: true,
            properties: [.messageExpiryInterval(10)])))

        func retainedSeenByNewSubscriber(_ id: String) throws -> [String] {
            let subscriber = try broker.connect(clientID: id)
            _ = try subscriber.received()
            try subscriber.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: [
                MQTTSubscription(topicFilter: "state/#", options: .init(qos: .atMostOnce)),
            ])))
            return try subscriber.received().compactMap { if case .publish(let p) = $0 { return String(buffer: p.payload) } else { return nil } }
        }

        clock.advance(by: .seconds(9))
        #expect(try retainedSeenByNewSubscriber("early") == ["open"])
        clock.advance(by: .seconds(2))
        #expect(try retainedSeenByNewSubscriber("late") == [])
    }
}
