import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("04 Will messages", .serialized)
    struct WillTests {
        @Test("a killed client's will is published", arguments: MQTTVersion.allCases)
        func willOnKilledClient(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let willTopic = Helpers.unique("will") + "/status"

            let watcher = try await MosquittoSub.start(port: broker.port, version: version, topics: [willTopic], qos: 1)
            defer { watcher.cleanup() }
            let device = try await MosquittoSub.start(
                port: broker.port, version: version, topics: [Helpers.unique("device")],
                extra: ["--will-topic", willTopic, "--will-payload", "device offline", "--will-qos", "1"]
            )
            defer { device.cleanup() }

            device.kill9()
            let messages = try await watcher.waitForMessages(count: 1)
            #expect(messages == [ReceivedMessage(topic: willTopic, qos: 1, retain: false, payload: Array("device offline".utf8))])
        }

        @Test("closing the socket without DISCONNECT publishes the will", arguments: MQTTVersion.allCases)
        func willOnSocketClose(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let willTopic = Helpers.unique("will-close")

            let watcher = try await MosquittoSub.start(port: broker.port, version: version, topics: [willTopic], qos: 1)
            defer { watcher.cleanup() }
            let client = try RawMQTTClient(port: broker.port)
            try await client.connect(version, clientID: Helpers.unique("raw"), will: RawWill(topic: willTopic, payload: "lost", qos: 1))
            client.close()

            let messages = try await watcher.waitForMessages(count: 1)
            #expect(messages.map(\.text) == ["lost"])
        }

        @Test("a normal DISCONNECT discards the will", arguments: MQTTVersion.allCases)
        func noWillOnDisconnect(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let willTopic = Helpers.unique("no-will")

            let watcher = try await MosquittoSub.start(port: broker.port, version: version, topics: [willTopic], qos: 1)
            defer { watcher.cleanup() }
            let client = try RawMQTTClient(port: broker.port)
            try await client.connect(version, clientID: Helpers.unique("polite"), will: RawWill(topic: willTopic, payload: "should not appear"))
            try client.send(RawPacket.disconnect(version))
            try await client.waitForClose()

            let before = try await Helpers.messagesBeforeSentinel(watcher, port: broker.port, version: version, topic: willTopic)
            #expect(before.isEmpty, "will published after a normal DISCONNECT: \(before)")
        }

        @Test("mosquitto_sub exiting normally (-E) does not trigger its will", arguments: MQTTVersion.allCases)
        func noWillOnClientExit(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let willTopic = Helpers.unique("exit-will")

            let watcher = try await MosquittoSub.start(port: broker.port, version: version, topics: [willTopic], qos: 1)
            defer { watcher.cleanup() }
            try await ProcessRunner.run("mosquitto_sub", [
                "-h", "127.0.0.1", "-p", "\(broker.port)", "-V", version.mosquittoName, "-t", Helpers.unique("x"), "-E",
                "--will-topic", willTopic, "--will-payload", "should not appear",
            ]).requireSuccess()

            let before = try await Helpers.messagesBeforeSentinel(watcher, port: broker.port, version: version, topic: willTopic)
            #expect(before.isEmpty, "will published after a normal exit: \(before)")
        }

        @Test("a retained will is stored for later subscribers", arguments: MQTTVersion.allCases)
        func retainedWill(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let willTopic = Helpers.unique("retained-will")

            let client = try RawMQTTClient(port: broker.port)
            try await client.connect(version, clientID: Helpers.unique("raw"), will: RawWill(topic: willTopic, payload: "last words", qos: 1, retain: true))
            client.close()

            // The will may be published a moment after the close: poll with fresh subscribers.
            let deadline = ContinuousClock.now + .seconds(10)
            var received: [ReceivedMessage] = []
            while received.isEmpty, ContinuousClock.now < deadline {
                let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [willTopic], qos: 1)
                received = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: version, topic: willTopic)
                sub.cleanup()
                if received.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(received.map(\.text) == ["last words"])
            #expect(received.map(\.retain) == [true])
        }
    }
}
