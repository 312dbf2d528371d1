import Foundation
import MeridianBridgeCore
import MeridianMQTT
import Testing

@testable import MeridianConfig

/// `bridge.conf.example`, the documented template of a bridge block.
@Suite("bridge.conf.example")
struct BridgeExampleTests {
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // MeridianConfigTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository
        .appendingPathComponent("bridge.conf.example").path

    static func text() throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    /// The file with every `#option value` line uncommented (lines without a value stay
    /// commented: those options have no fixed default).
    static func uncommented() throws -> String {
        try text().split(separator: "\n", omittingEmptySubsequences: false).map { line in
            ExampleConfigurationTests.commentedOptions(in: String(line)).first.map { $0.hasValue ? line.dropFirst() : line }
                ?? line
        }.joined(separator: "\n")
    }

    /// What the example block reads as: its name, address and topic, defaults otherwise.
    static let exampleBridge: BridgeSettings = {
        var bridge = BridgeSettings(name: "cloud")
        bridge.addresses = [BridgeAddress(host: "mqtt.example.com", port: 1883)]
        bridge.topics = [BridgeTopicRule(pattern: "sensors/#", direction: .out, qos: .atLeastOnce)]
        // Shown with Meridian's default (Mosquitto's would follow cleansession).
        bridge.localCleanSession = false
        return bridge
    }()

    @Test("as shipped, all commented out, it parses to the defaults, as the main file or included")
    func parsesAsIs() throws {
        let text = try Self.text()
        #expect(try EdgeConfigParser.parse(text: text, file: "bridge.conf.example") == EdgeConfiguration())
        #expect(try parse("include_dir bridges", files: [(path: "bridges/cloud.conf", text: text)]) == EdgeConfiguration())
    }

    @Test("its example block, uncommented, is a bridge with the documented defaults")
    func uncommentedBlockGivesDefaults() throws {
        let text = try Self.uncommented()
        #expect(text != (try Self.text()))
        let included = try parse(
            "max_queued_messages 7\ninclude_dir bridges\nmax_queued_bytes 9",
            files: [(path: "bridges/cloud.conf", text: text)]
        )
        #expect(included.bridges == [Self.exampleBridge])
        // The block ends with its file: the main file's limits stay broker-wide.
        #expect(included.maxQueuedMessages == 7)
        #expect(included.maxQueuedBytes == 9)
        #expect(try EdgeConfigParser.parse(text: text, file: "cloud.conf").bridges == [Self.exampleBridge])
    }

    @Test("every bridge option is shown, commented out")
    func everyBridgeOptionShown() throws {
        let commented = Set(ExampleConfigurationTests.commentedOptions(in: try Self.text()).map(\.option))
        var expected: Set<String> = ["max_queued_messages", "max_queued_bytes"]
        for directive in Directive.bridges {
            // Aliases (clientid, username, password, addresses) are shown under their
            // canonical option.
            if case .bridge(let key, _, _) = directive.action { expected.insert(key) } else { expected.insert(directive.name) }
        }
        let missing = expected.subtracting(commented)
        #expect(missing.isEmpty, "not in bridge.conf.example: \(missing.sorted())")
    }

    @Test("BridgeSettings defaults are mosquitto 2.0's, plus Meridian's outbox defaults")
    func defaults() {
        let bridge = BridgeSettings(name: "b")
        #expect(bridge.addresses == [] && bridge.topics == [])
        #expect(bridge.roundRobin == false)
        #expect(bridge.remoteClientID == nil && bridge.localClientID == nil)
        #expect(bridge.remoteUsername == nil && bridge.remotePassword == nil)
        #expect(bridge.cleanSession == false && bridge.localCleanSession == nil)
        #expect(bridge.keepaliveInterval == 60)
        #expect(bridge.restartTimeoutBase == 5 && bridge.restartTimeoutCap == 30)
        #expect(bridge.startType == .automatic)
        #expect(bridge.threshold == 10 && bridge.idleTimeout == 60)
        #expect(bridge.notifications == true && bridge.notificationsLocalOnly == false)
        #expect(bridge.notificationTopic == nil)
        #expect(bridge.tryPrivate == true)
        #expect(bridge.protocolVersion == .mqttv311)
        #expect(bridge.outgoingRetain == true)
        #expect(bridge.maxPacketSize == 0)
        #expect(bridge.attemptUnsubscribe == true)
        #expect(bridge.insecure == false && bridge.tlsVersion == nil && bridge.alpn == nil)
        #expect(bridge.maxQueuedMessages == 0 && bridge.maxQueuedBytes == 0 && bridge.maxMessageAge == 0)
        #expect(bridge.queueOverflow == .dropOldest && bridge.queueQoS0 == true)
        #expect(bridge.drainMaxInflight == 100 && bridge.drainRateMessages == 0 && bridge.drainRateBytes == 0)
        #expect(bridge.sessionExpiryInterval == 86_400)
    }
}
