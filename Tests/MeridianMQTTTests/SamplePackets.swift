import MeridianMQTT
import NIOCore

/// Valid packets of every type, used by the round-trip, verifier, corpus and fuzz tests.
enum SamplePackets {
    static func bytes(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

    static let willV5 = MQTTWill(
        topic: "devices/42/status", payload: bytes("offline"), qos: .atLeastOnce, retain: true,
        properties: [
            .willDelayInterval(30), .payloadFormatIndicator(1), .messageExpiryInterval(3600),
            .contentType("text/plain"), .responseTopic("devices/42/reply"), .correlationData(bytes("corr")),
            .userProperty("k", "v"),
        ]
    )

    static let connectV5 = MQTTConnect(
        protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientIdentifier: "client-ü-1",
        properties: [
            .sessionExpiryInterval(120), .receiveMaximum(20), .maximumPacketSize(65_536), .topicAliasMaximum(10),
            .requestResponseInformation(1), .requestProblemInformation(0), .userProperty("a", "b"),
            .userProperty("a", "c"), .authenticationMethod("SCRAM-SHA-1"), .authenticationData(bytes("nonce")),
        ],
        will: willV5, username: "user", password: bytes("secret")
    )

    /// Every type of packet for MQTT 5, with and without the optional parts.
    static let v5: [MQTTPacket] = [
        .connect(connectV5),
        .connect(MQTTConnect(protocolVersion: .v5, cleanStart: false, keepAlive: 0, clientIdentifier: "")),
        .connect(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAlive: 10, clientIdentifier: "p", password: bytes("only-password"))),
        .connack(MQTTConnack(sessionPresent: true, reasonCode: .success)),
        .connack(MQTTConnack(
            sessionPresent: false, reasonCode: .notAuthorized,
            properties: [
                .sessionExpiryInterval(0), .receiveMaximum(100), .maximumQoS(1), .retainAvailable(0),
                .maximumPacketSize(1_000_000), .assignedClientIdentifier("auto-1"), .topicAliasMaximum(5),
                .reasonString("nope"), .userProperty("x", "y"), .wildcardSubscriptionAvailable(1),
                .subscriptionIdentifierAvailable(1), .sharedSubscriptionAvailable(0), .serverKeepAlive(30),
                .responseInformation("resp/"), .serverReference("other:1883"), .authenticationMethod("m"),
                .authenticationData(bytes("d")),
            ]
        )),
        .publish(MQTTPublish(topic: "a/b", payload: bytes("hello"))),
        .publish(MQTTPublish(topic: "a/b", payload: bytes(""), qos: .atLeastOnce, retain: true, dup: true, packetIdentifier: 1)),
        .publish(MQTTPublish(
            topic: "sensors/temperature/room-1", payload: bytes("21.5"), qos: .exactlyOnce, packetIdentifier: 65535,
            properties: [
                .payloadFormatIndicator(1), .messageExpiryInterval(10), .topicAlias(3), .responseTopic("r"),
                .correlationData(bytes("c")), .userProperty("u", "1"), .contentType("text/plain"),
            ]
        )),
        .publish(MQTTPublish(topic: "", payload: bytes("aliased"), properties: [.topicAlias(7)])),
        .publish(MQTTPublish(
            topic: "x", payload: bytes("to subscriber"), properties: [.subscriptionIdentifier(1), .subscriptionIdentifier(268_435_455)]
        )),
        .puback(MQTTAck(packetIdentifier: 1)),
        .puback(MQTTAck(packetIdentifier: 2, reasonCode: .noMatchingSubscribers)),
        .puback(MQTTAck(packetIdentifier: 3, reasonCode: .quotaExceeded, properties: [.reasonString("full"), .userProperty("a", "b")])),
        .pubrec(MQTTAck(packetIdentifier: 4)),
        .pubrec(MQTTAck(packetIdentifier: 5, reasonCode: .success, properties: [.reasonString("ok")])),
        .pubrel(MQTTAck(packetIdentifier: 6)),
        .pubrel(MQTTAck(packetIdentifier: 7, reasonCode: .packetIdentifierNotFound)),
        .pubcomp(MQTTAck(packetIdentifier: 8)),
        .pubcomp(MQTTAck(packetIdentifier: 9, reasonCode: .packetIdentifierNotFound, properties: [.userProperty("", "")])),
        .subscribe(MQTTSubscribe(
            packetIdentifier: 10,
            subscriptions: [
                MQTTSubscription(topicFilter: "a/+/c", options: MQTTSubscriptionOptions(qos: .atLeastOnce)),
                MQTTSubscription(
                    topicFilter: "#",
                    options: MQTTSubscriptionOptions(qos: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend)
                ),
                MQTTSubscription(
                    topicFilter: "$share/g/x", options: MQTTSubscriptionOptions(qos: .atMostOnce, retainHandling: .sendOnNewSubscribe)
                ),
            ],
            properties: [.subscriptionIdentifier(42), .userProperty("k", "v")]
        )),
        .suback(MQTTSuback(packetIdentifier: 10, reasonCodes: [.grantedQoS1, .grantedQoS2, .topicFilterInvalid])),
        .suback(MQTTSuback(packetIdentifier: 11, reasonCodes: [.grantedQoS0], properties: [.reasonString("r")])),
        .unsubscribe(MQTTUnsubscribe(packetIdentifier: 12, topicFilters: ["a/+/c", "#"], properties: [.userProperty("k", "v")])),
        .unsuback(MQTTUnsuback(packetIdentifier: 12, reasonCodes: [.success, .noSubscriptionExisted])),
        .unsuback(MQTTUnsuback(packetIdentifier: 13, reasonCodes: [.success], properties: [.reasonString("r")])),
        .pingreq,
        .pingresp,
        .disconnect(MQTTDisconnect()),
        .disconnect(MQTTDisconnect(reasonCode: .disconnectWithWillMessage)),
        .disconnect(MQTTDisconnect(
            reasonCode: .serverMoved,
            properties: [.sessionExpiryInterval(5), .reasonString("bye"), .serverReference("elsewhere"), .userProperty("a", "b")]
        )),
        .auth(MQTTAuth()),
        .auth(MQTTAuth(reasonCode: .reAuthenticate)),
        .auth(MQTTAuth(
            reasonCode: .continueAuthentication,
            properties: [.authenticationMethod("SCRAM-SHA-1"), .authenticationData(bytes("xyz")), .reasonString("r"), .userProperty("a", "b")]
        )),
    ]

    /// Every type of packet for MQTT 3.1.1 (no AUTH).
    static let v3_1_1: [MQTTPacket] = [
        .connect(MQTTConnect(
            protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 60, clientIdentifier: "client-1",
            will: MQTTWill(topic: "will/topic", payload: bytes("gone"), qos: .exactlyOnce, retain: false),
            username: "user", password: bytes("pw")
        )),
        .connect(MQTTConnect(protocolVersion: .v3_1_1, cleanStart: false, keepAlive: 0, clientIdentifier: "c")),
        .connack(MQTTConnack(sessionPresent: true, reasonCode: .v3Accepted)),
        .connack(MQTTConnack(sessionPresent: false, reasonCode: .v3NotAuthorized)),
        .publish(MQTTPublish(topic: "a/b", payload: bytes("hello"))),
        .publish(MQTTPublish(topic: "a/b", payload: bytes("x"), qos: .atLeastOnce, retain: true, dup: true, packetIdentifier: 1)),
        .publish(MQTTPublish(topic: "$SYS/x", payload: bytes(""), qos: .exactlyOnce, packetIdentifier: 65535)),
        .puback(MQTTAck(packetIdentifier: 1)),
        .pubrec(MQTTAck(packetIdentifier: 2)),
        .pubrel(MQTTAck(packetIdentifier: 3)),
        .pubcomp(MQTTAck(packetIdentifier: 4)),
        .subscribe(MQTTSubscribe(
            packetIdentifier: 5,
            subscriptions: [
                MQTTSubscription(topicFilter: "a/#", options: MQTTSubscriptionOptions(qos: .exactlyOnce)),
                MQTTSubscription(topicFilter: "b", options: MQTTSubscriptionOptions(qos: .atMostOnce)),
            ]
        )),
        .suback(MQTTSuback(packetIdentifier: 5, reasonCodes: [.grantedQoS2, .grantedQoS0, .v3SubscribeFailure])),
        .unsubscribe(MQTTUnsubscribe(packetIdentifier: 6, topicFilters: ["a/#", "b"])),
        .unsuback(MQTTUnsuback(packetIdentifier: 6)),
        .pingreq,
        .pingresp,
        .disconnect(MQTTDisconnect()),
    ]

    /// MQTT 3.1 differs from 3.1.1 only in CONNECT.
    static let v3_1Connect = MQTTPacket.connect(MQTTConnect(
        protocolVersion: .v3_1, cleanStart: true, keepAlive: 30, clientIdentifier: "old-device",
        will: MQTTWill(topic: "w", payload: bytes("p"), qos: .atMostOnce, retain: true), username: "u"
    ))

    /// A sample value for each property.
    static func sample(_ identifier: MQTTPropertyIdentifier) -> MQTTProperty {
        switch identifier {
        case .payloadFormatIndicator: return .payloadFormatIndicator(1)
        case .messageExpiryInterval: return .messageExpiryInterval(0xFFFF_FFFF)
        case .contentType: return .contentType("application/json")
        case .responseTopic: return .responseTopic("reply/here")
        case .correlationData: return .correlationData(bytes("\u{1}\u{2}"))
        case .subscriptionIdentifier: return .subscriptionIdentifier(16_384)
        case .sessionExpiryInterval: return .sessionExpiryInterval(86_400)
        case .assignedClientIdentifier: return .assignedClientIdentifier("assigned")
        case .serverKeepAlive: return .serverKeepAlive(15)
        case .authenticationMethod: return .authenticationMethod("PLAIN")
        case .authenticationData: return .authenticationData(bytes("data"))
        case .requestProblemInformation: return .requestProblemInformation(1)
        case .willDelayInterval: return .willDelayInterval(7)
        case .requestResponseInformation: return .requestResponseInformation(1)
        case .responseInformation: return .responseInformation("info")
        case .serverReference: return .serverReference("host:1883")
        case .reasonString: return .reasonString("because")
        case .receiveMaximum: return .receiveMaximum(65_535)
        case .topicAliasMaximum: return .topicAliasMaximum(0)
        case .topicAlias: return .topicAlias(1)
        case .maximumQoS: return .maximumQoS(0)
        case .retainAvailable: return .retainAvailable(1)
        case .userProperty: return .userProperty("name", "välue")
        case .maximumPacketSize: return .maximumPacketSize(1)
        case .wildcardSubscriptionAvailable: return .wildcardSubscriptionAvailable(0)
        case .subscriptionIdentifierAvailable: return .subscriptionIdentifierAvailable(0)
        case .sharedSubscriptionAvailable: return .sharedSubscriptionAvailable(1)
        }
    }

    /// A packet of `context` that carries `properties` (in the will, for `.will`).
    static func packet(_ context: MQTTPropertyContext, properties: MQTTProperties) -> MQTTPacket {
        switch context {
        case .connect:
            return .connect(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAlive: 1, clientIdentifier: "c", properties: properties))
        case .will:
            let will = MQTTWill(topic: "w", payload: bytes("p"), qos: .atMostOnce, retain: false, properties: properties)
            return .connect(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAlive: 1, clientIdentifier: "c", will: will))
        case .connack: return .connack(MQTTConnack(sessionPresent: false, reasonCode: .success, properties: properties))
        case .publish:
            return .publish(MQTTPublish(topic: "t", payload: bytes("p"), qos: .atLeastOnce, packetIdentifier: 9, properties: properties))
        case .puback: return .puback(MQTTAck(packetIdentifier: 1, properties: properties))
        case .pubrec: return .pubrec(MQTTAck(packetIdentifier: 1, properties: properties))
        case .pubrel: return .pubrel(MQTTAck(packetIdentifier: 1, properties: properties))
        case .pubcomp: return .pubcomp(MQTTAck(packetIdentifier: 1, properties: properties))
        case .subscribe:
            return .subscribe(MQTTSubscribe(
                packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: "f", options: MQTTSubscriptionOptions(qos: .atMostOnce))],
                properties: properties
            ))
        case .suback: return .suback(MQTTSuback(packetIdentifier: 1, reasonCodes: [.grantedQoS0], properties: properties))
        case .unsubscribe: return .unsubscribe(MQTTUnsubscribe(packetIdentifier: 1, topicFilters: ["f"], properties: properties))
        case .unsuback: return .unsuback(MQTTUnsuback(packetIdentifier: 1, reasonCodes: [.success], properties: properties))
        case .disconnect: return .disconnect(MQTTDisconnect(properties: properties))
        case .auth: return .auth(MQTTAuth(reasonCode: .continueAuthentication, properties: properties))
        }
    }

    static let allContexts: [MQTTPropertyContext] = [
        .connect, .connack, .publish, .will, .puback, .pubrec, .pubrel, .pubcomp,
        .subscribe, .suback, .unsubscribe, .unsuback, .disconnect, .auth,
    ]
}
