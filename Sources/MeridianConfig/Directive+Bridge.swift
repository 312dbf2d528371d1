import MeridianBridgeCore
import MeridianMQTT

extension Directive {
    /// `connection <name>` and the options of a bridge block, in mosquitto's syntax
    /// (mosquitto.conf(5), "Configuring Bridges"), plus Meridian's outbox and drain options.
    ///
    /// Differences from mosquitto, all in the direction of refusing rather than guessing:
    /// values mosquitto silently clamps (`keepalive_interval` below 5, `threshold` or
    /// `idle_timeout` below 1, `restart_timeout` beyond 3600) are errors; an option given
    /// twice in one block is an error (mosquitto refuses some, lets others override);
    /// `bridge_protocol_version mqttv31` is refused (MQTT 3.1 is not supported).
    /// `max_queued_messages` and `max_queued_bytes` are in ``general``: they apply to the
    /// bridge inside a block.
    static let bridges: [Directive] =
        ([
            [
                .global("connection") { state, line in
                    let name = try line.value("name")
                    try state.startBridge(named: String(name), line: line)
                }
            ],
            bridge("address", aliases: ["addresses"]) { bridge, line in
                guard line.peekValue() != nil else { throw line.error("missing address") }
                while let token = line.optionalValue() {
                    bridge.addresses.append(try address(token, line: line))
                }
            },
            bridge("round_robin") { $0.roundRobin = try $1.boolean() },
            bridge("topic", repeatable: true) { bridge, line in
                let rule = try topicRule(&line)
                if bridge.topics.contains(rule) {
                    throw line.error("the same rule is already given for connection '\(bridge.name)'")
                }
                bridge.topics.append(rule)
            },
            bridge("remote_clientid", aliases: ["clientid"]) { $0.remoteClientID = try $1.rest("client identifier") },
            bridge("local_clientid") { $0.localClientID = try $1.rest("client identifier") },
            bridge("remote_username", aliases: ["username"]) { $0.remoteUsername = try $1.rest("username") },
            bridge("remote_password", aliases: ["password"]) { $0.remotePassword = try $1.rest("password") },
            bridge("cleansession") { $0.cleanSession = try $1.boolean() },
            bridge("local_cleansession") { $0.localCleanSession = try $1.boolean() },
            bridge("keepalive_interval") { bridge, line in
                bridge.keepaliveInterval = UInt16(try line.integer(in: 5...65535, note: "seconds"))
            },
            bridge("restart_timeout") { bridge, line in
                let base = try line.integer("base", in: 1...3600, note: "seconds")
                guard let capToken = line.peekValue() else {
                    (bridge.restartTimeoutBase, bridge.restartTimeoutCap) = (base, nil)
                    return
                }
                let cap = try line.integer("cap", in: 1...7200, note: "seconds")
                guard cap >= base else {
                    throw line.error("cap \(capToken) is lower than the base \(base)")
                }
                (bridge.restartTimeoutBase, bridge.restartTimeoutCap) = (base, cap)
            },
            bridge("start_type") { bridge, line in
                bridge.startType = try line.choice(BridgeSettings.StartType.allCases.map { ($0.rawValue, $0) })
            },
            bridge("threshold") { $0.threshold = try $1.integer(in: 1...intMax, note: "messages") },
            bridge("idle_timeout") { $0.idleTimeout = try $1.integer(in: 1...intMax, note: "seconds") },
            bridge("notifications") { $0.notifications = try $1.boolean() },
            bridge("notifications_local_only") { $0.notificationsLocalOnly = try $1.boolean() },
            bridge("notification_topic") { bridge, line in
                let topic = try line.rest("topic")
                guard MQTTTopic.isValidName(topic) else {
                    throw line.error("'\(topic)' is not a valid topic name (no + or # wildcards)")
                }
                bridge.notificationTopic = topic
            },
            bridge("try_private") { $0.tryPrivate = try $1.boolean() },
            bridge("bridge_protocol_version") { bridge, line in
                if line.peekValue() == "mqttv31" {
                    throw line.error("mqttv31 (MQTT 3.1) is not supported; use mqttv311 or mqttv50")
                }
                bridge.protocolVersion = try line.choice(BridgeSettings.ProtocolVersion.allCases.map { ($0.rawValue, $0) })
            },
            bridge("bridge_outgoing_retain") { $0.outgoingRetain = try $1.boolean() },
            bridge("bridge_max_packet_size") { bridge, line in
                let size = try line.integer(in: 0...largestPacket, note: "0 means no limit")
                guard size == 0 || size >= 20 else {
                    throw line.error("\(size) is too small (at least 20; 0 means no limit)")
                }
                bridge.maxPacketSize = size
            },
            bridge("bridge_attempt_unsubscribe") { $0.attemptUnsubscribe = try $1.boolean() },
            // TLS: read here, used when bridge TLS is implemented.
            bridge("bridge_cafile") { $0.cafile = try $1.rest("file") },
            bridge("bridge_capath") { $0.capath = try $1.rest("directory") },
            bridge("bridge_certfile") { $0.certfile = try $1.rest("file") },
            bridge("bridge_keyfile") { $0.keyfile = try $1.rest("file") },
            bridge("bridge_insecure") { $0.insecure = try $1.boolean() },
            bridge("bridge_tls_version") { bridge, line in
                bridge.tlsVersion = try line.choice(["tlsv1.3", "tlsv1.2", "tlsv1.1"].map { ($0, $0) })
            },
            bridge("bridge_alpn") { $0.alpn = String(try $1.value("protocol")) },
            // Meridian additions: the outbox (with max_queued_messages and max_queued_bytes)
            // and how it drains.
            bridge("max_message_age") { $0.maxMessageAge = try $1.integer(in: 0...intMax, note: "seconds; 0 means never") },
            bridge("queue_overflow") { bridge, line in
                bridge.queueOverflow = try line.choice(BridgeQueueOverflow.allCases.map { ($0.rawValue, $0) })
            },
            bridge("queue_qos0") { $0.queueQoS0 = try $1.boolean() },
            bridge("drain_max_inflight") { $0.drainMaxInflight = try $1.integer(in: 1...65535) },
            bridge("drain_rate") { bridge, line in
                bridge.drainRateMessages = try line.integer("messages per second", in: 0...intMax, note: "0 means no limit")
                if line.peekValue() != nil {
                    bridge.drainRateBytes = try line.integer("bytes per second", in: 0...intMax, note: "0 means no limit")
                } else {
                    bridge.drainRateBytes = 0
                }
            },
            bridge("session_expiry_interval") { bridge, line in
                bridge.sessionExpiryInterval = UInt32(try line.integer(in: 0...Int(UInt32.max), note: "seconds"))
            },
        ] as [[Directive]]).flatMap { $0 }

    /// `host[:port]`: the port is after the last `:`, as in mosquitto, so an IPv6 address
    /// needs one (`::1:1883`). Without a port, 1883.
    static func address(_ token: Substring, line: ConfigLine) throws -> BridgeAddress {
        guard let colon = token.lastIndex(of: ":") else { return BridgeAddress(host: String(token)) }
        let host = token[..<colon]
        let portText = token[token.index(after: colon)...]
        guard !host.isEmpty else { throw line.error("'\(token)' has no host") }
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText),
            (1...65535).contains(port)
        else {
            throw line.error("'\(token)' has an invalid port '\(portText)' (1 to 65535)")
        }
        return BridgeAddress(host: String(host), port: port)
    }

    /// `topic <pattern> [in|out|both [<qos> [<local-prefix> [<remote-prefix>]]]]`, with
    /// mosquitto's rules (src/conf.c and src/bridge_topic.c):
    ///
    /// - each field is optional only after the ones before it; `""` stands for an empty
    ///   pattern or prefix;
    /// - the direction is `out` by default and is matched without regard to case;
    ///   the QoS is 0 by default;
    /// - a prefix must not contain `+` or `#`;
    /// - an empty pattern needs both prefixes: each prefix is then the whole topic on its side;
    /// - a prefix followed by the pattern must form a valid topic filter (`a/` + `#` does,
    ///   `a` + `#` does not).
    ///
    /// Meridian also requires the pattern to be a valid topic filter (mosquitto finds out
    /// when it subscribes), and a QoS of exactly 0, 1 or 2 (mosquitto reads `1x` as 1).
    static func topicRule(_ line: inout ConfigLine) throws -> BridgeTopicRule {
        func field(_ token: Substring) -> String { token == "\"\"" ? "" : String(token) }
        let pattern = field(try line.value("topic pattern"))
        var rule = BridgeTopicRule(pattern: pattern)
        if let token = line.optionalValue() {
            guard let direction = BridgeDirection(rawValue: token.lowercased()) else {
                throw line.error("'\(token)' is not a direction (in, out or both)")
            }
            rule.direction = direction
        }
        if let token = line.optionalValue() {
            guard let number = UInt8(token), let qos = MQTTQoS(rawValue: number) else {
                throw line.error("'\(token)' is not a QoS (0, 1 or 2)")
            }
            rule.qos = qos
        }
        rule.localPrefix = line.optionalValue().map(field) ?? ""
        rule.remotePrefix = line.optionalValue().map(field) ?? ""
        try line.end()

        if !pattern.isEmpty, !MQTTTopic.isValidFilter(pattern) {
            throw line.error("'\(pattern)' is not a valid topic filter")
        }
        let prefixes = [("local", rule.localPrefix), ("remote", rule.remotePrefix)].filter { !$0.1.isEmpty }
        for (side, prefix) in prefixes where !MQTTTopic.isValidName(prefix) {
            throw line.error("\(side) prefix '\(prefix)' must not contain wildcards (+ or #)")
        }
        if pattern.isEmpty, prefixes.count < 2 {
            throw line.error("an empty pattern (\"\") needs both a local and a remote prefix: they are the topics")
        }
        for (side, prefix) in prefixes where !MQTTTopic.isValidFilter(prefix + pattern) {
            throw line.error(
                "\(side) prefix '\(prefix)' and pattern '\(pattern)' form '\(prefix + pattern)', which is not a valid topic filter"
            )
        }
        return rule
    }
}
