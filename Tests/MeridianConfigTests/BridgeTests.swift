import MeridianBridgeCore
import MeridianConfig
import MeridianMQTT
import Testing

/// The smallest valid block; tests append the lines under test.
let minimalBlock = "connection cloud\naddress broker.example\ntopic #"

/// The bridge of `minimalBlock` with `change` applied.
func bridge(_ change: (inout BridgeSettings) -> Void = { _ in }) -> BridgeSettings {
    var bridge = BridgeSettings(name: "cloud")
    bridge.addresses = [BridgeAddress(host: "broker.example")]
    bridge.topics = [BridgeTopicRule(pattern: "#")]
    change(&bridge)
    return bridge
}

/// A line added to `minimalBlock` and the bridge it must give.
struct GoodBridgeLine: Sendable, CustomTestStringConvertible {
    let line: String
    let expected: BridgeSettings
    var testDescription: String { line.debugDescription }

    init(_ line: String, _ change: (inout BridgeSettings) -> Void) {
        self.line = line
        self.expected = bridge(change)
    }
}

/// A `topic` line's values and the rule they must give.
struct GoodTopic: Sendable, CustomTestStringConvertible {
    let values: String
    let expected: BridgeTopicRule
    var testDescription: String { values }

    init(_ values: String, _ expected: BridgeTopicRule) {
        self.values = values
        self.expected = expected
    }
}

typealias Rule = BridgeTopicRule

@Suite("Bridges")
struct BridgeTests {
    @Test("good blocks")
    func goodBlocks() throws {
        #expect(try parse(minimalBlock).bridges == [bridge()])
        let text = """
            sys_interval 5
            connection cloud
            addresses cloud-a.example:8883 cloud-b.example:8884
            round_robin true
            topic sensors/# out 1
            topic commands/# in 2 "" site-7/
            clientid edge-7
            username edge user
            password s3cret with spaces
            cleansession true
            local_cleansession false
            keepalive_interval 30
            restart_timeout 10
            start_type lazy
            threshold 50
            idle_timeout 120
            notifications false
            notification_topic site-7/bridge/state
            bridge_protocol_version mqttv50
            max_queued_messages 5000
            max_queued_bytes 10485760
            queue_overflow refuse
            session_expiry_interval 3600

            connection backup
            address 10.0.0.2
            topic "" both 0 local/status remote/status
            """
        var cloud = BridgeSettings(name: "cloud")
        cloud.addresses = [BridgeAddress(host: "cloud-a.example", port: 8883), BridgeAddress(host: "cloud-b.example", port: 8884)]
        cloud.roundRobin = true
        cloud.topics = [
            Rule(pattern: "sensors/#", direction: .out, qos: .atLeastOnce),
            Rule(pattern: "commands/#", direction: .in, qos: .exactlyOnce, remotePrefix: "site-7/"),
        ]
        cloud.remoteClientID = "edge-7"
        cloud.remoteUsername = "edge user"
        cloud.remotePassword = "s3cret with spaces"
        cloud.cleanSession = true
        cloud.localCleanSession = false
        cloud.keepaliveInterval = 30
        cloud.restartTimeoutBase = 10
        cloud.restartTimeoutCap = nil
        cloud.startType = .lazy
        cloud.threshold = 50
        cloud.idleTimeout = 120
        cloud.notifications = false
        cloud.notificationTopic = "site-7/bridge/state"
        cloud.protocolVersion = .mqttv50
        cloud.maxQueuedMessages = 5000
        cloud.maxQueuedBytes = 10_485_760
        cloud.queueOverflow = .refuse
        cloud.sessionExpiryInterval = 3600
        var backup = BridgeSettings(name: "backup")
        backup.addresses = [BridgeAddress(host: "10.0.0.2")]
        backup.topics = [Rule(pattern: "", direction: .both, localPrefix: "local/status", remotePrefix: "remote/status")]
        let parsed = try parse(text)
        #expect(parsed.bridges == [cloud, backup])
        // Inside a block the queue limits are the bridge's; the broker-wide ones keep their defaults.
        #expect(parsed.maxQueuedMessages == 1000 && parsed.maxQueuedBytes == 0)
        #expect(parsed.sysInterval == 5)
    }

    @Test("max_queued_* are broker-wide before a block and in files without one")
    func contextualQueueLimits() throws {
        let parsed = try parse(
            "max_queued_messages 10\ninclude_dir conf.d\n\(minimalBlock)\nmax_queued_messages 20",
            files: [(path: "conf.d/limits.conf", text: "max_queued_bytes 30")]
        )
        #expect(parsed.maxQueuedMessages == 10)
        #expect(parsed.maxQueuedBytes == 30)
        #expect(parsed.bridges == [bridge { $0.maxQueuedMessages = 20 }])
    }

    @Test("a block continues after include_dir in its file; an included file has its own blocks")
    func blocksAcrossFiles() throws {
        let parsed = try parse(
            "connection main\naddress a\ninclude_dir conf.d\ntopic main/#",
            files: [(path: "conf.d/b.conf", text: "connection other\naddress b\ntopic other/#")]
        )
        #expect(parsed.bridges.map(\.name) == ["main", "other"])
        #expect(parsed.bridges[0].topics == [Rule(pattern: "main/#")])
    }

    @Test(
        "each bridge option",
        arguments: [
            GoodBridgeLine("round_robin false") { $0.roundRobin = false },
            GoodBridgeLine("remote_clientid edge.cloud") { $0.remoteClientID = "edge.cloud" },
            GoodBridgeLine("clientid edge.cloud") { $0.remoteClientID = "edge.cloud" },
            GoodBridgeLine("local_clientid local.edge") { $0.localClientID = "local.edge" },
            GoodBridgeLine("remote_username u") { $0.remoteUsername = "u" },
            GoodBridgeLine("username u") { $0.remoteUsername = "u" },
            GoodBridgeLine("remote_password p w") { $0.remotePassword = "p w" },
            GoodBridgeLine("password p") { $0.remotePassword = "p" },
            GoodBridgeLine("cleansession true") { $0.cleanSession = true },
            GoodBridgeLine("local_cleansession true") { $0.localCleanSession = true },
            GoodBridgeLine("keepalive_interval 5") { $0.keepaliveInterval = 5 },
            GoodBridgeLine("keepalive_interval 65535") { $0.keepaliveInterval = 65535 },
            GoodBridgeLine("restart_timeout 1") {
                $0.restartTimeoutBase = 1; $0.restartTimeoutCap = nil
            },
            GoodBridgeLine("restart_timeout 3600") {
                $0.restartTimeoutBase = 3600; $0.restartTimeoutCap = nil
            },
            GoodBridgeLine("restart_timeout 5 30") {
                $0.restartTimeoutBase = 5; $0.restartTimeoutCap = 30
            },
            GoodBridgeLine("restart_timeout 10 10") {
                $0.restartTimeoutBase = 10; $0.restartTimeoutCap = 10
            },
            GoodBridgeLine("restart_timeout 2 7200") {
                $0.restartTimeoutBase = 2; $0.restartTimeoutCap = 7200
            },
            GoodBridgeLine("start_type automatic") { $0.startType = .automatic },
            GoodBridgeLine("start_type lazy") { $0.startType = .lazy },
            GoodBridgeLine("start_type once") { $0.startType = .once },
            GoodBridgeLine("threshold 1") { $0.threshold = 1 },
            GoodBridgeLine("idle_timeout 1") { $0.idleTimeout = 1 },
            GoodBridgeLine("notifications false") { $0.notifications = false },
            GoodBridgeLine("notifications_local_only true") { $0.notificationsLocalOnly = true },
            GoodBridgeLine("notification_topic $SYS/broker/connection/edge/state") {
                $0.notificationTopic = "$SYS/broker/connection/edge/state"
            },
            GoodBridgeLine("try_private false") { $0.tryPrivate = false },
            GoodBridgeLine("bridge_protocol_version mqttv311") { $0.protocolVersion = .mqttv311 },
            GoodBridgeLine("bridge_protocol_version mqttv50") { $0.protocolVersion = .mqttv50 },
            GoodBridgeLine("bridge_outgoing_retain false") { $0.outgoingRetain = false },
            GoodBridgeLine("bridge_max_packet_size 0") { $0.maxPacketSize = 0 },
            GoodBridgeLine("bridge_max_packet_size 20") { $0.maxPacketSize = 20 },
            GoodBridgeLine("bridge_max_packet_size 268435460") { $0.maxPacketSize = 268_435_460 },
            GoodBridgeLine("bridge_attempt_unsubscribe false") { $0.attemptUnsubscribe = false },
            GoodBridgeLine("bridge_cafile /etc/ssl/ca.pem") { $0.cafile = "/etc/ssl/ca.pem" },
            GoodBridgeLine("bridge_capath /etc/ssl/certs") { $0.capath = "/etc/ssl/certs" },
            GoodBridgeLine("bridge_certfile /etc/edge/c.pem\nbridge_keyfile /etc/edge/k.pem") {
                $0.certfile = "/etc/edge/c.pem"
                $0.keyfile = "/etc/edge/k.pem"
            },
            GoodBridgeLine("bridge_insecure true") { $0.insecure = true },
            GoodBridgeLine("bridge_tls_version tlsv1.3") { $0.tlsVersion = "tlsv1.3" },
            GoodBridgeLine("bridge_tls_version tlsv1.2") { $0.tlsVersion = "tlsv1.2" },
            GoodBridgeLine("bridge_tls_version tlsv1.1") { $0.tlsVersion = "tlsv1.1" },
            GoodBridgeLine("bridge_alpn x-amzn-mqtt-ca") { $0.alpn = "x-amzn-mqtt-ca" },
            GoodBridgeLine("max_queued_messages 0") { $0.maxQueuedMessages = 0 },
            GoodBridgeLine("max_queued_messages 2147483647") { $0.maxQueuedMessages = 2_147_483_647 },
            GoodBridgeLine("max_queued_bytes 1048576") { $0.maxQueuedBytes = 1_048_576 },
            GoodBridgeLine("max_message_age 86400") { $0.maxMessageAge = 86400 },
            GoodBridgeLine("queue_overflow drop-oldest") { $0.queueOverflow = .dropOldest },
            GoodBridgeLine("queue_overflow drop-newest") { $0.queueOverflow = .dropNewest },
            GoodBridgeLine("queue_overflow refuse") { $0.queueOverflow = .refuse },
            GoodBridgeLine("queue_qos0 false") { $0.queueQoS0 = false },
            GoodBridgeLine("drain_max_inflight 1") { $0.drainMaxInflight = 1 },
            GoodBridgeLine("drain_max_inflight 65535") { $0.drainMaxInflight = 65535 },
            GoodBridgeLine("drain_rate 50") {
                $0.drainRateMessages = 50; $0.drainRateBytes = 0
            },
            GoodBridgeLine("drain_rate 50 65536") {
                $0.drainRateMessages = 50; $0.drainRateBytes = 65536
            },
            GoodBridgeLine("drain_rate 0 65536") { $0.drainRateBytes = 65536 },
            GoodBridgeLine("session_expiry_interval 0") { $0.sessionExpiryInterval = 0 },
            GoodBridgeLine("session_expiry_interval 4294967295") { $0.sessionExpiryInterval = UInt32.max },
        ])
    func option(line: GoodBridgeLine) throws {
        #expect(try parse("\(minimalBlock)\n\(line.line)").bridges == [line.expected])
    }

    @Test(
        "addresses: host, port, several, IPv6 with a port",
        arguments: [
            ("address h", [BridgeAddress(host: "h")]),
            ("address h:1", [BridgeAddress(host: "h", port: 1)]),
            ("address h:65535", [BridgeAddress(host: "h", port: 65535)]),
            ("address 192.168.1.10:8883", [BridgeAddress(host: "192.168.1.10", port: 8883)]),
            ("address ::1:1883", [BridgeAddress(host: "::1", port: 1883)]),
            ("addresses a b:1884 c", [BridgeAddress(host: "a"), BridgeAddress(host: "b", port: 1884), BridgeAddress(host: "c")]),
            ("address\ta\t b:2", [BridgeAddress(host: "a"), BridgeAddress(host: "b", port: 2)]),
        ])
    func address(line: String, addresses: [BridgeAddress]) throws {
        let parsed = try parse("connection cloud\n\(line)\ntopic #")
        #expect(parsed.bridges.first?.addresses == addresses)
    }

    @Test(
        "topic lines: every accepted form of pattern, direction, QoS and prefixes",
        arguments: [
            GoodTopic("#", Rule(pattern: "#")),
            GoodTopic("sensors/+/temp", Rule(pattern: "sensors/+/temp")),
            GoodTopic("a/b", Rule(pattern: "a/b")),
            GoodTopic("+", Rule(pattern: "+")),
            GoodTopic("$SYS/broker/#", Rule(pattern: "$SYS/broker/#")),
            GoodTopic("# out", Rule(pattern: "#", direction: .out)),
            GoodTopic("# in", Rule(pattern: "#", direction: .in)),
            GoodTopic("# both", Rule(pattern: "#", direction: .both)),
            GoodTopic("# IN", Rule(pattern: "#", direction: .in)),
            GoodTopic("# Both", Rule(pattern: "#", direction: .both)),
            GoodTopic("# out 0", Rule(pattern: "#", qos: .atMostOnce)),
            GoodTopic("# out 1", Rule(pattern: "#", qos: .atLeastOnce)),
            GoodTopic("# in 2", Rule(pattern: "#", direction: .in, qos: .exactlyOnce)),
            // Prefixes.
            GoodTopic("# out 1 local/", Rule(pattern: "#", qos: .atLeastOnce, localPrefix: "local/")),
            GoodTopic("# out 1 local/ remote/", Rule(pattern: "#", qos: .atLeastOnce, localPrefix: "local/", remotePrefix: "remote/")),
            GoodTopic("# out 1 \"\" remote/", Rule(pattern: "#", qos: .atLeastOnce, remotePrefix: "remote/")),
            GoodTopic("# out 1 local/ \"\"", Rule(pattern: "#", qos: .atLeastOnce, localPrefix: "local/")),
            GoodTopic("# out 1 \"\" \"\"", Rule(pattern: "#", qos: .atLeastOnce)),
            GoodTopic("x/# both 0 a/b/ c/", Rule(pattern: "x/#", direction: .both, localPrefix: "a/b/", remotePrefix: "c/")),
            GoodTopic("+/t in 0 site/ edge/", Rule(pattern: "+/t", direction: .in, localPrefix: "site/", remotePrefix: "edge/")),
            // A prefix that does not end with '/' before a plain pattern: "pre" + "fix/x".
            GoodTopic("fix/x out 0 pre", Rule(pattern: "fix/x", localPrefix: "pre")),
            GoodTopic(
                "temp out 0 sensors/ remote/sensors/", Rule(pattern: "temp", localPrefix: "sensors/", remotePrefix: "remote/sensors/")),
            // An empty pattern: both prefixes are the whole topics.
            GoodTopic(
                "\"\" out 1 local/status remote/status",
                Rule(pattern: "", qos: .atLeastOnce, localPrefix: "local/status", remotePrefix: "remote/status")),
            GoodTopic("\"\" in 0 a b", Rule(pattern: "", direction: .in, localPrefix: "a", remotePrefix: "b")),
        ])
    func topic(topic: GoodTopic) throws {
        let parsed = try parse("connection cloud\naddress h\ntopic \(topic.values)")
        #expect(parsed.bridges.first?.topics == [topic.expected])
    }

    @Test(
        "topic lines: invalid patterns, prefixes and combinations are refused at load",
        arguments: [
            BadFile("topic", "edge.conf:3: topic: missing topic pattern"),
            BadFile("topic a/#/b", "edge.conf:3: topic: 'a/#/b' is not a valid topic filter"),
            BadFile("topic a/b#", "edge.conf:3: topic: 'a/b#' is not a valid topic filter"),
            BadFile("topic a+/b", "edge.conf:3: topic: 'a+/b' is not a valid topic filter"),
            BadFile("topic #/a out", "edge.conf:3: topic: '#/a' is not a valid topic filter"),
            BadFile("topic # sideways", "edge.conf:3: topic: 'sideways' is not a direction (in, out or both)"),
            BadFile("topic # 1", "edge.conf:3: topic: '1' is not a direction (in, out or both)"),
            BadFile("topic # out 3", "edge.conf:3: topic: '3' is not a QoS (0, 1 or 2)"),
            BadFile("topic # out -1", "edge.conf:3: topic: '-1' is not a QoS (0, 1 or 2)"),
            BadFile("topic # out 1x", "edge.conf:3: topic: '1x' is not a QoS (0, 1 or 2)"),
            BadFile("topic # out one", "edge.conf:3: topic: 'one' is not a QoS (0, 1 or 2)"),
            BadFile("topic # out 1 a/ b/ c/", "edge.conf:3: topic: unexpected extra value 'c/'"),
            BadFile(
                "topic # out 1 #",
                "edge.conf:3: topic: a comment must be on a line of its own ('#' starts a comment only at the start of a line)"
            ),
            BadFile("topic # out 1 a/+/", "edge.conf:3: topic: local prefix 'a/+/' must not contain wildcards (+ or #)"),
            BadFile("topic # out 1 a/ b/+", "edge.conf:3: topic: remote prefix 'b/+' must not contain wildcards (+ or #)"),
            BadFile("topic # out 1 \"\" +/", "edge.conf:3: topic: remote prefix '+/' must not contain wildcards (+ or #)"),
            BadFile(
                "topic # out 1 site",
                "edge.conf:3: topic: local prefix 'site' and pattern '#' form 'site#', which is not a valid topic filter"
            ),
            BadFile(
                "topic +/x in 0 a/ b",
                "edge.conf:3: topic: remote prefix 'b' and pattern '+/x' form 'b+/x', which is not a valid topic filter"
            ),
            BadFile(
                "topic \"\"",
                "edge.conf:3: topic: an empty pattern (\"\") needs both a local and a remote prefix: they are the topics"
            ),
            BadFile(
                "topic \"\" out 1 local/",
                "edge.conf:3: topic: an empty pattern (\"\") needs both a local and a remote prefix: they are the topics"
            ),
            BadFile(
                "topic \"\" out 1 \"\" remote/",
                "edge.conf:3: topic: an empty pattern (\"\") needs both a local and a remote prefix: they are the topics"
            ),
            BadFile(
                "topic sensors/# out 1\ntopic sensors/# out 1",
                "edge.conf:4: topic: the same rule is already given for connection 'cloud'"
            ),
        ])
    func badTopic(file: BadFile) {
        #expect(parseError("connection cloud\naddress h\n\(file.text)") == file.error)
    }

    @Test(
        "blocks: options outside a block, duplicate names, bad or missing address, missing topic",
        arguments: [
            BadFile("address h", "edge.conf:1: address: must follow a 'connection' line (bridge options apply to the latest connection)"),
            BadFile("topic # out 1", "edge.conf:1: topic: must follow a 'connection' line (bridge options apply to the latest connection)"),
            BadFile(
                "listener 1883\nkeepalive_interval 60",
                "edge.conf:2: keepalive_interval: must follow a 'connection' line (bridge options apply to the latest connection)"
            ),
            BadFile("connection", "edge.conf:1: connection: missing name"),
            BadFile("connection a b", "edge.conf:1: connection: unexpected extra value 'b'"),
            BadFile(
                "\(minimalBlock)\nconnection cloud",
                "edge.conf:4: connection: duplicate connection name 'cloud' (first at edge.conf:1)"
            ),
            BadFile("connection cloud\naddress\ntopic #", "edge.conf:2: address: missing address"),
            BadFile("connection cloud\naddress h:0\ntopic #", "edge.conf:2: address: 'h:0' has an invalid port '0' (1 to 65535)"),
            BadFile(
                "connection cloud\naddress h:65536\ntopic #", "edge.conf:2: address: 'h:65536' has an invalid port '65536' (1 to 65535)"),
            BadFile("connection cloud\naddress h:\ntopic #", "edge.conf:2: address: 'h:' has an invalid port '' (1 to 65535)"),
            BadFile("connection cloud\naddress h:mqtt\ntopic #", "edge.conf:2: address: 'h:mqtt' has an invalid port 'mqtt' (1 to 65535)"),
            BadFile("connection cloud\naddress h:+1\ntopic #", "edge.conf:2: address: 'h:+1' has an invalid port '+1' (1 to 65535)"),
            BadFile("connection cloud\naddress :1883\ntopic #", "edge.conf:2: address: ':1883' has no host"),
            BadFile("connection cloud\ntopic #", "edge.conf:1: connection: bridge 'cloud' has no 'address' line"),
            BadFile("connection cloud\naddress h", "edge.conf:1: connection: bridge 'cloud' has no 'topic' line"),
            BadFile(
                "sys_interval 1\nconnection cloud\naddress h\nconnection next\naddress h\ntopic #",
                "edge.conf:2: connection: bridge 'cloud' has no 'topic' line"
            ),
            BadFile("connection empty", "edge.conf:1: connection: bridge 'empty' has no 'address' line"),
            BadFile(
                "\(minimalBlock)\nbridge_certfile /c.pem",
                "edge.conf:1: connection: bridge 'cloud': bridge_certfile and bridge_keyfile must be given together"
            ),
            BadFile(
                "\(minimalBlock)\nbridge_keyfile /k.pem",
                "edge.conf:1: connection: bridge 'cloud': bridge_certfile and bridge_keyfile must be given together"
            ),
        ])
    func blocks(file: BadFile) {
        #expect(parseError(file.text) == file.error)
    }

    @Test("a block ends with its file: an included file cannot add to the main file's block")
    func blockScope() {
        #expect(
            parseError("connection cloud\naddress h\ntopic #\ninclude_dir conf.d", files: [(path: "conf.d/a.conf", text: "\ntopic more/#")])
                == "conf.d/a.conf:2: topic: must follow a 'connection' line (bridge options apply to the latest connection)"
        )
        #expect(
            parseError("include_dir conf.d\ntopic #", files: [(path: "conf.d/a.conf", text: "connection a\naddress h\ntopic #")])
                == "edge.conf:2: topic: must follow a 'connection' line (bridge options apply to the latest connection)"
        )
        #expect(
            parseError("include_dir conf.d", files: [(path: "conf.d/a.conf", text: "\n\nconnection a\naddress h")])
                == "conf.d/a.conf:3: connection: bridge 'a' has no 'topic' line"
        )
        #expect(
            parseError(
                "connection cloud\naddress h\ninclude_dir conf.d",
                files: [(path: "conf.d/a.conf", text: "connection cloud\naddress h\ntopic #")]
            ) == "conf.d/a.conf:1: connection: duplicate connection name 'cloud' (first at edge.conf:1)"
        )
    }

    @Test(
        "bad values, missing values and duplicates of each option",
        arguments: [
            // address
            BadFile("address h2", "edge.conf:4: address: connection 'cloud' already sets address (edge.conf:2)"),
            BadFile("addresses h2", "edge.conf:4: addresses: connection 'cloud' already sets address (edge.conf:2)"),
            // booleans
            BadFile("round_robin yes", "edge.conf:4: round_robin: 'yes' is not a boolean (expected true or false)"),
            BadFile("round_robin", "edge.conf:4: round_robin: missing value"),
            BadFile(
                "round_robin true\nround_robin false", "edge.conf:5: round_robin: connection 'cloud' already sets round_robin (edge.conf:4)"
            ),
            BadFile("cleansession 1", "edge.conf:4: cleansession: '1' is not a boolean (expected true or false)"),
            BadFile(
                "cleansession true\ncleansession true",
                "edge.conf:5: cleansession: connection 'cloud' already sets cleansession (edge.conf:4)"),
            BadFile("local_cleansession", "edge.conf:4: local_cleansession: missing value"),
            BadFile("notifications off", "edge.conf:4: notifications: 'off' is not a boolean (expected true or false)"),
            BadFile("notifications_local_only", "edge.conf:4: notifications_local_only: missing value"),
            BadFile("try_private flase", "edge.conf:4: try_private: 'flase' is not a boolean (expected true or false)"),
            BadFile("bridge_outgoing_retain true false", "edge.conf:4: bridge_outgoing_retain: unexpected extra value 'false'"),
            BadFile(
                "bridge_attempt_unsubscribe no", "edge.conf:4: bridge_attempt_unsubscribe: 'no' is not a boolean (expected true or false)"),
            BadFile("bridge_insecure", "edge.conf:4: bridge_insecure: missing value"),
            BadFile("queue_qos0 maybe", "edge.conf:4: queue_qos0: 'maybe' is not a boolean (expected true or false)"),
            // identities and credentials, with their aliases
            BadFile("remote_clientid", "edge.conf:4: remote_clientid: missing client identifier"),
            BadFile("clientid", "edge.conf:4: clientid: missing client identifier"),
            BadFile(
                "remote_clientid a\nclientid b", "edge.conf:5: clientid: connection 'cloud' already sets remote_clientid (edge.conf:4)"),
            BadFile("local_clientid", "edge.conf:4: local_clientid: missing client identifier"),
            BadFile(
                "local_clientid a\nlocal_clientid a",
                "edge.conf:5: local_clientid: connection 'cloud' already sets local_clientid (edge.conf:4)"),
            BadFile("remote_username", "edge.conf:4: remote_username: missing username"),
            BadFile(
                "username a\nremote_username b",
                "edge.conf:5: remote_username: connection 'cloud' already sets remote_username (edge.conf:4)"),
            BadFile("password", "edge.conf:4: password: missing password"),
            BadFile(
                "remote_password a\npassword b", "edge.conf:5: password: connection 'cloud' already sets remote_password (edge.conf:4)"),
            // keepalive_interval
            BadFile("keepalive_interval", "edge.conf:4: keepalive_interval: missing value"),
            BadFile("keepalive_interval 4", "edge.conf:4: keepalive_interval: 4 is out of range (5 to 65535; seconds)"),
            BadFile("keepalive_interval 65536", "edge.conf:4: keepalive_interval: 65536 is out of range (5 to 65535; seconds)"),
            BadFile("keepalive_interval 1m", "edge.conf:4: keepalive_interval: '1m' is not an integer"),
            BadFile(
                "keepalive_interval 60\nkeepalive_interval 30",
                "edge.conf:5: keepalive_interval: connection 'cloud' already sets keepalive_interval (edge.conf:4)"),
            // restart_timeout
            BadFile("restart_timeout", "edge.conf:4: restart_timeout: missing base"),
            BadFile("restart_timeout 0", "edge.conf:4: restart_timeout: 0 is out of range (1 to 3600; seconds)"),
            BadFile("restart_timeout 3601", "edge.conf:4: restart_timeout: 3601 is out of range (1 to 3600; seconds)"),
            BadFile("restart_timeout 30 5", "edge.conf:4: restart_timeout: cap 5 is lower than the base 30"),
            BadFile("restart_timeout 5 7201", "edge.conf:4: restart_timeout: 7201 is out of range (1 to 7200; seconds)"),
            BadFile("restart_timeout 5 x", "edge.conf:4: restart_timeout: 'x' is not an integer"),
            BadFile("restart_timeout 5 30 60", "edge.conf:4: restart_timeout: unexpected extra value '60'"),
            BadFile(
                "restart_timeout 5\nrestart_timeout 6",
                "edge.conf:5: restart_timeout: connection 'cloud' already sets restart_timeout (edge.conf:4)"),
            // start_type, threshold, idle_timeout
            BadFile("start_type manual", "edge.conf:4: start_type: 'manual' is not one of automatic, lazy, once"),
            BadFile("start_type Lazy", "edge.conf:4: start_type: 'Lazy' is not one of automatic, lazy, once"),
            BadFile("start_type", "edge.conf:4: start_type: missing value"),
            BadFile(
                "start_type lazy\nstart_type once", "edge.conf:5: start_type: connection 'cloud' already sets start_type (edge.conf:4)"),
            BadFile("threshold 0", "edge.conf:4: threshold: 0 is out of range (1 to 2147483647; messages)"),
            BadFile("threshold ten", "edge.conf:4: threshold: 'ten' is not an integer"),
            BadFile("threshold 1\nthreshold 2", "edge.conf:5: threshold: connection 'cloud' already sets threshold (edge.conf:4)"),
            BadFile("idle_timeout 0", "edge.conf:4: idle_timeout: 0 is out of range (1 to 2147483647; seconds)"),
            BadFile("idle_timeout", "edge.conf:4: idle_timeout: missing value"),
            BadFile(
                "idle_timeout 1\nidle_timeout 1", "edge.conf:5: idle_timeout: connection 'cloud' already sets idle_timeout (edge.conf:4)"),
            // notification_topic
            BadFile("notification_topic", "edge.conf:4: notification_topic: missing topic"),
            BadFile(
                "notification_topic bridge/+/state",
                "edge.conf:4: notification_topic: 'bridge/+/state' is not a valid topic name (no + or # wildcards)"),
            BadFile(
                "notification_topic a\nnotification_topic b",
                "edge.conf:5: notification_topic: connection 'cloud' already sets notification_topic (edge.conf:4)"),
            // bridge_protocol_version
            BadFile(
                "bridge_protocol_version mqttv31",
                "edge.conf:4: bridge_protocol_version: mqttv31 (MQTT 3.1) is not supported; use mqttv311 or mqttv50"),
            BadFile("bridge_protocol_version mqttv5", "edge.conf:4: bridge_protocol_version: 'mqttv5' is not one of mqttv311, mqttv50"),
            BadFile("bridge_protocol_version", "edge.conf:4: bridge_protocol_version: missing value"),
            BadFile(
                "bridge_protocol_version mqttv50\nbridge_protocol_version mqttv50",
                "edge.conf:5: bridge_protocol_version: connection 'cloud' already sets bridge_protocol_version (edge.conf:4)"
            ),
            // bridge_max_packet_size
            BadFile("bridge_max_packet_size 19", "edge.conf:4: bridge_max_packet_size: 19 is too small (at least 20; 0 means no limit)"),
            BadFile(
                "bridge_max_packet_size -1", "edge.conf:4: bridge_max_packet_size: -1 is out of range (0 to 268435460; 0 means no limit)"),
            BadFile("bridge_max_packet_size", "edge.conf:4: bridge_max_packet_size: missing value"),
            // TLS
            BadFile("bridge_cafile", "edge.conf:4: bridge_cafile: missing file"),
            BadFile(
                "bridge_cafile a\nbridge_cafile b",
                "edge.conf:5: bridge_cafile: connection 'cloud' already sets bridge_cafile (edge.conf:4)"),
            BadFile("bridge_capath", "edge.conf:4: bridge_capath: missing directory"),
            BadFile("bridge_certfile", "edge.conf:4: bridge_certfile: missing file"),
            BadFile("bridge_keyfile", "edge.conf:4: bridge_keyfile: missing file"),
            BadFile("bridge_tls_version tlsv1.0", "edge.conf:4: bridge_tls_version: 'tlsv1.0' is not one of tlsv1.3, tlsv1.2, tlsv1.1"),
            BadFile("bridge_tls_version", "edge.conf:4: bridge_tls_version: missing value"),
            BadFile("bridge_alpn", "edge.conf:4: bridge_alpn: missing protocol"),
            BadFile("bridge_alpn mqtt x", "edge.conf:4: bridge_alpn: unexpected extra value 'x'"),
            BadFile(
                "bridge_identity edge",
                "edge.conf:4: option 'bridge_identity' is not supported (TLS-PSK bridges; use bridge_cafile, bridge_certfile and bridge_keyfile)"
            ),
            BadFile(
                "bridge_psk 0123abcd",
                "edge.conf:4: option 'bridge_psk' is not supported (TLS-PSK bridges; use bridge_cafile, bridge_certfile and bridge_keyfile)"
            ),
            // Meridian additions
            BadFile("max_queued_messages -1", "edge.conf:4: max_queued_messages: -1 is out of range (0 to 2147483647; 0 means no limit)"),
            BadFile("max_queued_messages", "edge.conf:4: max_queued_messages: missing value"),
            BadFile(
                "max_queued_messages 1\nmax_queued_messages 2",
                "edge.conf:5: max_queued_messages: connection 'cloud' already sets max_queued_messages (edge.conf:4)"
            ),
            BadFile("max_queued_bytes 1k", "edge.conf:4: max_queued_bytes: '1k' is not an integer"),
            BadFile(
                "max_queued_bytes 1\nmax_queued_bytes 2",
                "edge.conf:5: max_queued_bytes: connection 'cloud' already sets max_queued_bytes (edge.conf:4)"
            ),
            BadFile("max_message_age -5", "edge.conf:4: max_message_age: -5 is out of range (0 to 2147483647; seconds; 0 means never)"),
            BadFile("max_message_age 1d", "edge.conf:4: max_message_age: '1d' is not an integer"),
            BadFile(
                "max_message_age 1\nmax_message_age 1",
                "edge.conf:5: max_message_age: connection 'cloud' already sets max_message_age (edge.conf:4)"),
            BadFile("queue_overflow drop", "edge.conf:4: queue_overflow: 'drop' is not one of drop-oldest, drop-newest, refuse"),
            BadFile("queue_overflow", "edge.conf:4: queue_overflow: missing value"),
            BadFile(
                "queue_overflow refuse\nqueue_overflow refuse",
                "edge.conf:5: queue_overflow: connection 'cloud' already sets queue_overflow (edge.conf:4)"),
            BadFile(
                "queue_qos0 true\nqueue_qos0 false", "edge.conf:5: queue_qos0: connection 'cloud' already sets queue_qos0 (edge.conf:4)"),
            BadFile("drain_max_inflight 0", "edge.conf:4: drain_max_inflight: 0 is out of range (1 to 65535)"),
            BadFile("drain_max_inflight 65536", "edge.conf:4: drain_max_inflight: 65536 is out of range (1 to 65535)"),
            BadFile("drain_max_inflight", "edge.conf:4: drain_max_inflight: missing value"),
            BadFile("drain_rate", "edge.conf:4: drain_rate: missing messages per second"),
            BadFile("drain_rate -1", "edge.conf:4: drain_rate: -1 is out of range (0 to 2147483647; 0 means no limit)"),
            BadFile("drain_rate 10 fast", "edge.conf:4: drain_rate: 'fast' is not an integer"),
            BadFile("drain_rate 10 20 30", "edge.conf:4: drain_rate: unexpected extra value '30'"),
            BadFile("drain_rate 1\ndrain_rate 2", "edge.conf:5: drain_rate: connection 'cloud' already sets drain_rate (edge.conf:4)"),
            BadFile(
                "session_expiry_interval 4294967296",
                "edge.conf:4: session_expiry_interval: 4294967296 is out of range (0 to 4294967295; seconds)"),
            BadFile("session_expiry_interval -1", "edge.conf:4: session_expiry_interval: -1 is out of range (0 to 4294967295; seconds)"),
            BadFile("session_expiry_interval", "edge.conf:4: session_expiry_interval: missing value"),
            // Options Meridian does not read yet, inside a block.
            BadFile("local_password secret", "edge.conf:4: option 'local_password' is not supported yet"),
            BadFile("bridge_receive_maximum 10", "edge.conf:4: option 'bridge_receive_maximum' is not supported yet"),
            BadFile("bridge_session_expiry_interval 60", "edge.conf:4: option 'bridge_session_expiry_interval' is not supported yet"),
            // A comment after a value.
            BadFile(
                "keepalive_interval 30 # seconds",
                "edge.conf:4: keepalive_interval: a comment must be on a line of its own ('#' starts a comment only at the start of a line)"
            ),
        ])
    func badOption(file: BadFile) {
        #expect(parseError("\(minimalBlock)\n\(file.text)") == file.error)
    }

    @Test(
        "every bridge option is refused outside a block",
        arguments: [
            "address h", "addresses h", "round_robin true", "topic #", "remote_clientid c", "clientid c", "local_clientid c",
            "remote_username u", "username u", "remote_password p", "password p", "cleansession true", "local_cleansession true",
            "keepalive_interval 60", "restart_timeout 5 30", "start_type lazy", "threshold 10", "idle_timeout 60",
            "notifications true", "notifications_local_only true", "notification_topic t", "try_private true",
            "bridge_protocol_version mqttv50", "bridge_outgoing_retain true", "bridge_max_packet_size 0",
            "bridge_attempt_unsubscribe true", "bridge_cafile f", "bridge_capath d", "bridge_certfile f", "bridge_keyfile f",
            "bridge_insecure false", "bridge_tls_version tlsv1.2", "bridge_alpn mqtt", "max_message_age 0",
            "queue_overflow refuse", "queue_qos0 true", "drain_max_inflight 100", "drain_rate 0", "session_expiry_interval 0",
        ])
    func outsideBlock(line: String) {
        let option = line.prefix { $0 != " " }
        #expect(
            parseError("sys_interval 10\n\(line)")
                == "edge.conf:2: \(option): must follow a 'connection' line (bridge options apply to the latest connection)"
        )
    }
}
