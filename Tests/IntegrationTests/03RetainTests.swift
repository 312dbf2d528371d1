import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("03 Retained messages", .serialized)
    struct RetainTests {
        @Test("a retained message is stored and delivered, flagged retained, to a later subscriber", arguments: MQTTVersion.allCases)
        func storedAndDeliveredOnSubscribe(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("retain") + "/state"

            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: "on", qos: 1, retain: true)
            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
            defer { sub.cleanup() }

            let messages = try await sub.waitForMessages(count: 1)
            #expect(messages == [ReceivedMessage(topic: topic, qos: 1, retain: true, payload: Array("on".utf8))])
        }

        @Test("a newer retained message replaces the older one", arguments: MQTTVersion.allCases)
        func replaced(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("replace")

            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: "first", retain: true)
            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: "second", retain: true)
            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
            defer { sub.cleanup() }

            let before = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: version, topic: topic)
            #expect(before.map(\.text) == ["second"])
            #expect(before.map(\.retain) == [true])
        }

        @Test("an empty retained payload (-n) deletes the retained message", arguments: MQTTVersion.allCases)
        func deletedByEmptyPayload(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("delete")

            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: "gone soon", retain: true)
            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: nil, retain: true)
            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
            defer { sub.cleanup() }

            let before = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: version, topic: topic)
            #expect(before.isEmpty, "deleted retained message was delivered: \(before)")
        }

        @Test("a wildcard subscription receives every matching retained message, and no others", arguments: MQTTVersion.allCases)
        func wildcardSubscribe(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let root = Helpers.unique("site")

            for (suffix, value) in [("a/temp", "20"), ("b/temp", "21"), ("b/humidity", "40")] {
                try await MosquittoPub.publish(port: broker.port, version: version, topic: "\(root)/\(suffix)", message: value, retain: true)
            }
            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: ["\(root)/+/temp"], qos: 1)
            defer { sub.cleanup() }

            let before = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: version, topic: "\(root)/sentinel/temp")
            #expect(Set(before.map { "\($0.topic)=\($0.text)" }) == ["\(root)/a/temp=20", "\(root)/b/temp=21"])
            #expect(before.allSatisfy { $0.retain })
        }

        @Test("a retained publish to an existing subscriber is delivered live, retain flag clear", arguments: MQTTVersion.allCases)
        func liveDeliveryClearsRetainFlag(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("live")

            let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
            defer { sub.cleanup() }
            try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: "now", qos: 1, retain: true)

            let messages = try await sub.waitForMessages(count: 1)
            #expect(messages.map(\.retain) == [false])
            #expect(messages.map(\.text) == ["now"])
        }
    }
}
