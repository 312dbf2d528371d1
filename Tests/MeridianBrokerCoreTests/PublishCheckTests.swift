import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import Testing

@Suite("PUBLISH checks before routing")
struct PublishCheckTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var topic = "plant/line1/temp"
        var payloadBytes = 8
        var qos = MQTTQoS.atLeastOnce
        var retain = false
        var version = MQTTProtocolVersion.v5
        var maxQoS = MQTTQoS.exactlyOnce
        var retainAvailable = true
        var messageSizeLimit = 0
        var withinRate = true
        var allowed = true
        var expected: PublishCheck.Verdict
        var rateConsulted = true
        var testDescription: String { name }
    }

    static let deep = Array(repeating: "l", count: MQTTTopic.maximumLevels + 1).joined(separator: "/")

    static let rows: [Row] = [
        Row(name: "an ordinary message is routed", expected: .route),
        Row(name: "5.0: a topic deeper than the bound is refused with 0x90", topic: deep,
            expected: .refuse(.topicNameInvalid, .topicTooDeep), rateConsulted: false),
        Row(name: "3.1.1: a topic deeper than the bound closes the connection", topic: deep, version: .v3_1_1,
            expected: .disconnect(.topicNameInvalid), rateConsulted: false),
        Row(name: "QoS above max_qos closes with 0x9B", qos: .exactlyOnce, maxQoS: .atLeastOnce,
            expected: .disconnect(.qosNotSupported), rateConsulted: false),
        Row(name: "retain with retain_available false closes with 0x9A", retain: true, retainAvailable: false,
            expected: .disconnect(.retainNotSupported), rateConsulted: false),
        Row(name: "a payload over message_size_limit is dropped with an acknowledgement", payloadBytes: 101, messageSizeLimit: 100,
            expected: .dropOversized, rateConsulted: false),
        Row(name: "a payload at message_size_limit is routed", payloadBytes: 100, messageSizeLimit: 100, expected: .route),
        Row(name: "over max_publish_rate: 0x96", withinRate: false, expected: .refuse(.messageRateTooHigh, .overRate)),
        Row(name: "not allowed by the ACL: 0x87", allowed: false, expected: .refuse(.notAuthorized, .notAuthorized)),
        Row(name: "over the rate and not allowed: the rate answers first", withinRate: false, allowed: false,
            expected: .refuse(.messageRateTooHigh, .overRate)),
    ]

    @Test("decision table", arguments: rows)
    func table(_ row: Row) {
        var settings = BrokerSettings()
        settings.maxQoS = row.maxQoS
        settings.retainAvailable = row.retainAvailable
        settings.messageSizeLimit = row.messageSizeLimit
        let publish = MQTTPublish(
            topic: row.topic, payload: ByteBuffer(repeating: 0x41, count: row.payloadBytes), qos: row.qos, retain: row.retain,
            packetIdentifier: row.qos == .atMostOnce ? nil : 1)
        var rateConsulted = false
        let verdict = PublishCheck.check(publish, version: row.version, settings: settings, withinRate: {
            rateConsulted = true
            return row.withinRate
        }, mayPublish: { _ in row.allowed })
        #expect(verdict == row.expected)
        // A message refused before the rate check takes no token from the client's bucket.
        #expect(rateConsulted == row.rateConsulted)
    }
}
