import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("06 Shared subscriptions", .serialized)
    struct SharedSubscriptionTests {
        @Test("$share/g/topic: each message goes to exactly one member, all messages to the group", arguments: MQTTVersion.allCases)
        func eachMessageToOneMember(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("jobs") + "/work"
            let filter = "$share/workers/\(topic)"

            let first = try await MosquittoSub.start(port: broker.port, version: version, topics: [filter], qos: 1)
            defer { first.cleanup() }
            let second = try await MosquittoSub.start(port: broker.port, version: version, topics: [filter], qos: 1)
            defer { second.cleanup() }
            let plain = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
            defer { plain.cleanup() }

            let published = (1...20).map { "job\($0)" }
            try await MosquittoPub.publishLines(port: broker.port, version: version, topic: topic, lines: published, qos: 1)

            // The ordinary subscriber sees every message: it marks when the group must have them too.
            let all = try await plain.waitForMessages(count: published.count)
            #expect(all.map(\.text) == published)
            try await Helpers.waitUntil("the group to receive \(published.count) messages") { first.messages.count + second.messages.count >= published.count }

            let firstTexts = first.messages.map(\.text)
            let secondTexts = second.messages.map(\.text)
            #expect((firstTexts + secondTexts).sorted() == published.sorted(), "first: \(firstTexts), second: \(secondTexts)")
            #expect(Set(firstTexts).isDisjoint(with: secondTexts))
            #expect(first.messages.allSatisfy { $0.topic == topic }, "shared messages must carry the real topic")
        }

        @Test("two groups on the same topic each receive every message", arguments: MQTTVersion.allCases)
        func groupsAreIndependent(version: MQTTVersion) async throws {
            let broker = try await BrokerProcess.started()
            defer { broker.cleanup() }
            let topic = Helpers.unique("fanout")

            let groupA = try await MosquittoSub.start(port: broker.port, version: version, topics: ["$share/a/\(topic)"], qos: 1)
            defer { groupA.cleanup() }
            let groupB = try await MosquittoSub.start(port: broker.port, version: version, topics: ["$share/b/\(topic)"], qos: 1)
            defer { groupB.cleanup() }

            let published = (1...5).map { "m\($0)" }
            try await MosquittoPub.publishLines(port: broker.port, version: version, topic: topic, lines: published, qos: 1)
            #expect(try await groupA.waitForMessages(count: 5).map(\.text) == published)
            #expect(try await groupB.waitForMessages(count: 5).map(\.text) == published)
        }
    }
}
