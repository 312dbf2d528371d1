import MeridianBridgeCore

extension Directive {
    /// Broker-wide limits and behaviour (mosquitto.conf(5), "General Options").
    static let general: [Directive] = [
        .boolean("allow_anonymous", \.allowAnonymous),
        .boolean("allow_cross_user_takeover", \.allowCrossUserTakeover),
        .global("max_keepalive") { state, line in
            state.configuration.maxKeepalive = UInt16(try line.integer(in: 0...65535))
        },
        maxPacketSize,
        .integer("message_size_limit", \.messageSizeLimit, in: 0...268_435_455, note: "0 means no limit"),
        .integer("max_inflight_messages", \.maxInflightMessages, in: 0...65535, note: "0 means no limit"),
        .integer("max_inflight_bytes", \.maxInflightBytes, in: 0...intMax, note: "0 means no limit"),
        // Inside a `connection` block these bound the bridge's outbox instead.
        .contextual("max_queued_messages", \.maxQueuedMessages, bridge: \.maxQueuedMessages, in: 0...intMax),
        .contextual("max_queued_bytes", \.maxQueuedBytes, bridge: \.maxQueuedBytes, in: 0...intMax),
        .boolean("queue_qos0_messages", \.queueQoS0Messages),
        .boolean("retain_available", \.retainAvailable),
        .integer("max_qos", \.maxQoS, in: 0...2),
        .integer("max_topic_alias", \.maxTopicAlias, in: 0...65535),
        .integer("sys_interval", \.sysInterval, in: 0...65535, note: "0 disables $SYS"),
        .boolean("set_tcp_nodelay", \.setTCPNoDelay),
        .text("clientid_prefixes", \.clientIDPrefixes),
        .text("password_file", \.passwordFile),
        .text("acl_file", \.aclFile),
        .integer("max_publish_rate", \.maxPublishRate, in: 0...intMax, note: "0 means no limit"),
        .integer("connect_timeout", \.connectTimeout, in: 1...3600),
        .integer("bridge_max_hops", \.bridgeMaxHops, in: 1...255),
        .global("queue_full_policy") { state, line in
            let policies = EdgeConfiguration.QueueFullPolicy.allCases
            state.configuration.queueFullPolicy = try line.choice(policies.map { ($0.rawValue, $0) })
        },
    ]

    /// `name <integer>`, 0 meaning no limit: a broker-wide setting outside a `connection`
    /// block, the current bridge's setting inside one.
    static func contextual(
        _ name: String,
        _ keyPath: WritableKeyPath<EdgeConfiguration, Int> & Sendable,
        bridge bridgeKeyPath: WritableKeyPath<BridgeSettings, Int> & Sendable,
        in range: ClosedRange<Int>
    ) -> Directive {
        .global(name) { state, line in
            let note = "0 means no limit"
            guard state.currentBridge != nil else {
                state.configuration[keyPath: keyPath] = try line.integer(in: range, note: note)
                return
            }
            try state.applyToBridge(&line, key: name, repeatable: false) { bridge, line in
                bridge[keyPath: bridgeKeyPath] = try line.integer(in: range, note: note)
            }
        }
    }

    /// The largest MQTT packet: a 268,435,455-byte remaining length plus a 5-byte fixed
    /// header.
    static let largestPacket = 268_435_460

    /// `max_packet_size 0` (no limit) or at least 20, as in mosquitto.
    static let maxPacketSize = Directive.global("max_packet_size") { state, line in
        let size = try line.integer(in: 0...largestPacket, note: "0 means no limit")
        guard size == 0 || size >= 20 else {
            throw line.error("\(size) is too small (at least 20; 0 means no limit)")
        }
        state.configuration.maxPacketSize = size
    }
}
