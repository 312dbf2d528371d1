import MeridianTestSupport
import Testing

extension BrokerIntegration {
    @Suite("09 $SYS topics", .serialized)
    struct SysTopicTests {
        static let required = [
            "$SYS/broker/uptime",
            "$SYS/broker/version",
            "$SYS/broker/clients/connected",
            "$SYS/broker/messages/received",
            "$SYS/broker/messages/sent",
        ]

        @Test("with sys_interval 1 the broker publishes uptime, version, connected clients and message counters")
        func sysTopicsPublished() async throws {
            let broker = try await BrokerProcess.started(options: ["sys_interval 1"])
            defer { broker.cleanup() }

            let sub = try await MosquittoSub.start(port: broker.port, version: .v311, topics: ["$SYS/broker/#"])
            defer { sub.cleanup() }
            let messages = try await waitForTopics(Self.required, on: sub)

            let latest = Dictionary(messages.map { ($0.topic, $0.text) }, uniquingKeysWith: { _, last in last })
            let uptime = try #require(latest["$SYS/broker/uptime"])
            #expect(Self.leadingInteger(uptime) != nil, "uptime is not a number of seconds: \(uptime)")
            #expect(!(latest["$SYS/broker/version"] ?? "").isEmpty)
            // The first value may predate the subscriber (a retained 0): wait for one that counts it.
            try await sub.waitForMessage("clients/connected >= 1") {
                $0.topic == "$SYS/broker/clients/connected" && (Self.leadingInteger($0.text) ?? 0) >= 1
            }
            #expect(latest["$SYS/broker/messages/received"].flatMap(Self.leadingInteger) != nil)
            #expect(latest["$SYS/broker/messages/sent"].flatMap(Self.leadingInteger) != nil)
        }

        @Test("the received-messages counter grows as clients publish")
        func counterGrows() async throws {
            let broker = try await BrokerProcess.started(options: ["sys_interval 1"])
            defer { broker.cleanup() }
            let topic = "$SYS/broker/messages/received"

            let sub = try await MosquittoSub.start(port: broker.port, version: .v311, topics: [topic])
            defer { sub.cleanup() }
            let first = try #require(try await sub.waitForMessages(count: 1).first.flatMap { Self.leadingInteger($0.text) })
            try await MosquittoPub.publishLines(
                port: broker.port, version: .v311, topic: Helpers.unique("count"), lines: (1...10).map { "m\($0)" }, qos: 1
            )
            try await sub.waitForMessage("\(topic) >= \(first + 10)", timeout: .seconds(10)) {
                (Self.leadingInteger($0.text) ?? 0) >= first + 10
            }
        }

        @Test("$SYS messages are not delivered to # or +/... subscriptions")
        func dollarTopicsExcludedFromLeadingWildcards() async throws {
            let broker = try await BrokerProcess.started(options: ["sys_interval 1"])
            defer { broker.cleanup() }

            let everything = try await MosquittoSub.start(port: broker.port, version: .v5, topics: ["#", "+/broker/uptime"])
            defer { everything.cleanup() }
            let sys = try await MosquittoSub.start(port: broker.port, version: .v5, topics: ["$SYS/broker/uptime"])
            defer { sys.cleanup() }
            // Two updates means at least one was published after `everything` subscribed.
            try await sys.waitForMessages(count: 2, timeout: .seconds(10))

            let before = try await Helpers.messagesBeforeSentinel(everything, port: broker.port, version: .v5, topic: Helpers.unique("plain"))
            #expect(before.allSatisfy { !$0.topic.hasPrefix("$") }, "a wildcard subscription got $ topics: \(before)")
        }

        @Test("Meridian names itself in $SYS/broker/version",
              .enabled(if: BrokerIntegration.isMeridian, "Meridian-specific payload"))
        func versionNamesMeridian() async throws {
            let broker = try await BrokerProcess.started(options: ["sys_interval 1"])
            defer { broker.cleanup() }

            let sub = try await MosquittoSub.start(port: broker.port, version: .v311, topics: ["$SYS/broker/version"])
            defer { sub.cleanup() }
            let version = try await sub.waitForMessages(count: 1)[0].text
            #expect(version.lowercased().contains("meridian"), "version: \(version)")
        }

        /// Waits until a message arrived on each of `topics`; returns all messages.
        private func waitForTopics(_ topics: [String], on sub: MosquittoSub) async throws -> [ReceivedMessage] {
            let wanted = Set(topics)
            try await Helpers.waitUntil("messages on \(topics)") { wanted.isSubset(of: Set(sub.messages.map(\.topic))) }
            return sub.messages
        }

        /// The integer a payload such as "42" or "42 seconds" starts with.
        static func leadingInteger(_ text: String) -> Int? {
            Int(text.prefix { $0.isNumber })
        }
    }
}
