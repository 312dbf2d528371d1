import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("07 MQTT 5 features", .serialized)
    struct MQTT5FeatureTests {
        // MARK: Message expiry

        @Test("a retained message past its expiry interval is not delivered to a new subscriber")
        func retainedMessageExpires() async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("expiring") + "/retained"
            let keptTopic = Helpers.unique("kept") + "/retained"

            try await MosquittoPub.publish(
                port: broker.port, version: .v5, topic: topic, message: "short-lived", qos: 1, retain: true,
                extra: ["-D", "publish", "message-expiry-interval", "1"]
            )
            try await MosquittoPub.publish(port: broker.port, version: .v5, topic: keptTopic, message: "kept", qos: 1, retain: true)
            // The protocol needs the interval to pass.
            try await Task.sleep(for: .milliseconds(2_200))

            let sub = try await MosquittoSub.start(port: broker.port, version: .v5, topics: [topic, keptTopic], qos: 1)
            defer { sub.cleanup() }
            try await sub.waitForMessage("the non-expiring retained message") { $0.topic == keptTopic }
            let before = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: .v5, topic: topic)
            #expect(before.map(\.text) == ["kept"], "expired retained message delivered: \(before)")
        }

        @Test("a message queued for an offline session expires there; the others are delivered")
        func queuedMessageExpires() async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let clientID = Helpers.unique("expiry-session")
            let topic = Helpers.unique("expiry-queue")

            try await PersistentSessionTests.leaveSession(port: broker.port, version: .v5, clientID: clientID, topic: topic)
            try await MosquittoPub.publish(
                port: broker.port, version: .v5, topic: topic, message: "expires", qos: 1,
                extra: ["-D", "publish", "message-expiry-interval", "1"]
            )
            try await MosquittoPub.publish(
                port: broker.port, version: .v5, topic: topic, message: "lasts", qos: 1,
                extra: ["-D", "publish", "message-expiry-interval", "600"]
            )
            try await MosquittoPub.publish(port: broker.port, version: .v5, topic: topic, message: "forever", qos: 1)
            try await Task.sleep(for: .milliseconds(2_200))

            let sub = try await PersistentSessionTests.resume(port: broker.port, version: .v5, clientID: clientID, topic: topic)
            defer { sub.cleanup() }
            let before = try await Helpers.messagesBeforeSentinel(sub, port: broker.port, version: .v5, topic: topic)
            #expect(before.map(\.text) == ["lasts", "forever"])
        }

        // MARK: paho scenarios

        @Test("inbound topic alias: alias-only publishes arrive on the full topic")
        func topicAlias() async throws {
            try await runScript("topic_alias.py")
        }

        @Test("session takeover: the first client gets DISCONNECT 0x8E (mosquitto 2.0.11 only closes the socket)")
        func sessionTakeover() async throws {
            // Known deviation: mosquitto 2.0.11 closes the old connection without a DISCONNECT.
            try await runScript("session_takeover.py", BrokerIntegration.isMosquitto ? ["--any-disconnect"] : [])
        }

        @Test("subscription identifiers are attached to the matching subscriptions' deliveries")
        func subscriptionIdentifiers() async throws {
            try await runScript("subscription_identifiers.py")
        }

        @Test("No Local: a client does not receive its own publications")
        func noLocal() async throws {
            try await runScript("no_local.py")
        }

        @Test("Retain Handling 0/1/2 and Retain As Published")
        func retainHandling() async throws {
            try await runScript("retain_handling.py")
        }

        @Test("user properties and the other publish properties pass through unchanged")
        func userProperties() async throws {
            try await runScript("user_properties.py")
        }

        @Test("queue_full_policy backpressure slows the publisher and loses nothing; drop drops (Meridian only)",
              .enabled(if: BrokerIntegration.isMeridian, "queue_full_policy is a Meridian option"),
              arguments: ["backpressure", "drop"])
        func queueFullPolicy(policy: String) async throws {
            try await runScript("backpressure.py", ["--expect", policy],
                                options: ["max_inflight_messages 5", "max_queued_messages 10", "queue_full_policy \(policy)"])
        }

        private func runScript(_ name: String, _ arguments: [String] = [], options: [String] = []) async throws {
            let broker = try await BrokerProcess.started(options: options)
            defer { broker.cleanup() }
            let result = try await PahoScript.run(name, broker: broker, arguments)
            #expect(result.succeeded, "\(result)\n\(broker.report)")
        }
    }
}
