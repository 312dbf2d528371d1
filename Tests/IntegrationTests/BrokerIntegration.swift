import Foundation
import MeridianTestSupport
import Testing

/// The root of the integration suites. `.serialized` is inherited by every nested suite,
/// so the whole tree runs one test at a time: at most one broker and its few clients run
/// at once on the 2-core machine, and timing assertions (keep-alive) stay meaningful.
///
/// The broker under test is `meridian-edge` (next to the test bundle, or
/// `MERIDIAN_EDGE_BINARY`) unless `BROKER_UNDER_TEST=mosquitto`:
///
///     swift test --filter IntegrationTests
///     BROKER_UNDER_TEST=mosquitto swift test --filter IntegrationTests
///
/// The peers are `mosquitto_pub`/`mosquitto_sub` (apt `mosquitto-clients`), `python3`
/// with paho-mqtt 2.x, and `stdbuf` (coreutils). `MERIDIAN_KEEP_TEST_DIRS=1` keeps each
/// broker's temp directory (config, data, logs) for a post-mortem.
///
/// Tests that check Meridian-only behaviour are disabled against mosquitto; the few
/// places where mosquitto 2.0.11 is known to deviate from what Meridian must do say so
/// where they relax the check.
@Suite(.serialized)
enum BrokerIntegration {
    static let kind = BrokerKind.underTest
    static var isMeridian: Bool { kind == .meridian }
    static var isMosquitto: Bool { kind == .mosquitto }
}

/// Test-wide helpers that know nothing about one feature.
enum Helpers {
    /// A name no other test uses, for topics and client ids.
    static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Publishes a sentinel on `topic` (which `sub` is subscribed to), waits for it and
    /// returns the messages `sub` got before it: the bounded way to show that something
    /// was *not* delivered. The broker keeps per-topic order for one publisher, and
    /// anything owed to `sub` (retained, queued, a will) was decided before the sentinel
    /// was published.
    static func messagesBeforeSentinel(
        _ sub: MosquittoSub,
        port: Int,
        version: MQTTVersion,
        topic: String,
        qos: Int = 1
    ) async throws -> [ReceivedMessage] {
        let sentinel = unique("sentinel")
        try await MosquittoPub.publish(port: port, version: version, topic: topic, message: sentinel, qos: qos)
        let received = try await sub.waitForMessage("sentinel \(sentinel)") { $0.text == sentinel }
        return Array(received.dropLast())
    }

    /// Polls `condition` every 10 ms until it holds, at most `timeout`.
    static func waitUntil(_ what: String, timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now >= deadline { throw WaitTimeout("\(what) within \(timeout)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A separate, well-behaved client can still subscribe, publish and receive on
    /// `broker`: run after every misbehaving client.
    static func expectBrokerServesOthers(_ broker: BrokerProcess, version: MQTTVersion = .v5) async throws {
        #expect(broker.isRunning, "broker died:\n\(broker.report)")
        let topic = unique("health")
        let sub = try await MosquittoSub.start(port: broker.port, version: version, topics: [topic], qos: 1)
        defer { sub.cleanup() }
        try await MosquittoPub.publish(port: broker.port, version: version, topic: topic, message: "still-serving", qos: 1)
        let messages = try await sub.waitForMessages(count: 1)
        #expect(messages.map(\.text) == ["still-serving"])
    }
}

/// The paho-mqtt scenarios in `Scripts/`, each run as `python3 SCRIPT --host --port ...`.
enum PahoScript {
    static var directory: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "Scripts", withExtension: nil) else {
                throw TestSetupError("Scripts resource directory missing from the test bundle")
            }
            return url
        }
    }

    /// Runs `name` against the broker and returns its result; the test expects exit 0.
    static func run(_ name: String, broker: BrokerProcess, _ arguments: [String] = [], timeout: Duration = .seconds(30)) async throws -> ProcessResult {
        try await run(name, port: broker.port, arguments, timeout: timeout)
    }

    /// Runs `name` against the broker (or cluster node) listening on `port`.
    static func run(_ name: String, port: Int, _ arguments: [String] = [], timeout: Duration = .seconds(30)) async throws -> ProcessResult {
        let script = try directory.appendingPathComponent(name).path
        return try await ProcessRunner.run(
            "python3",
            [script, "--host", "127.0.0.1", "--port", "\(port)"] + arguments,
            timeout: timeout
        )
    }
}
