/// The two protocol versions the tests speak, with the names each peer tool uses.
public enum MQTTVersion: Sendable, CaseIterable, CustomStringConvertible {
    case v311
    case v5

    /// The protocol level byte of CONNECT.
    public var level: UInt8 { self == .v311 ? 4 : 5 }
    /// The value of `mosquitto_pub`/`mosquitto_sub` `-V`.
    public var mosquittoName: String { self == .v311 ? "mqttv311" : "mqttv5" }
    /// The `--protocol` value the paho scripts take.
    public var pahoName: String { self == .v311 ? "311" : "5" }
    public var description: String { self == .v311 ? "3.1.1" : "5.0" }
}

/// MQTT control packet types (the high nibble of the first byte).
public enum PacketType {
    public static let connect: UInt8 = 1
    public static let connack: UInt8 = 2
    public static let publish: UInt8 = 3
    public static let puback: UInt8 = 4
    public static let pubrec: UInt8 = 5
    public static let pubrel: UInt8 = 6
    public static let pubcomp: UInt8 = 7
    public static let subscribe: UInt8 = 8
    public static let suback: UInt8 = 9
    public static let unsubscribe: UInt8 = 10
    public static let unsuback: UInt8 = 11
    public static let pingreq: UInt8 = 12
    public static let pingresp: UInt8 = 13
    public static let disconnect: UInt8 = 14
    public static let auth: UInt8 = 15
}

/// A will for ``RawPacket/connect(_:clientID:keepAlive:cleanStart:will:properties:)``.
public struct RawWill: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: UInt8
    public var retain: Bool
    /// The encoded 5.0 will properties (e.g. ``RawProperty/willDelayInterval(_:)``); ignored in 3.1.1.
    public var properties: [UInt8]

    public init(topic: String, payload: String, qos: UInt8 = 0, retain: Bool = false, properties: [UInt8] = []) {
        self.topic = topic
        self.payload = Array(payload.utf8)
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// Packets written by hand as bytes, independent of the codec under test, in the manner
/// of mosquitto's `test/mosq_test.py` generators. Each function returns the whole packet
/// (fixed header included); the building blocks are public so that tests can assemble
/// deliberately broken packets.
public enum RawPacket {
    /// A fixed header (first byte, remaining length) followed by `body`.
    public static func frame(_ firstByte: UInt8, _ body: [UInt8]) -> [UInt8] {
        [firstByte] + variableByteInteger(body.count) + body
    }

    public static func variableByteInteger(_ value: Int) -> [UInt8] {
        precondition(value >= 0 && value <= 268_435_455)
        var value = value
        var bytes: [UInt8] = []
        repeat {
            var byte = UInt8(value % 128)
            value /= 128
            if value > 0 { byte |= 0x80 }
            bytes.append(byte)
        } while value > 0
        return bytes
    }

    public static func uint16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    public static func uint32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// Two-byte length, then the bytes (strings and binary data alike).
    public static func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] { uint16(UInt16(bytes.count)) + bytes }

    public static func string(_ text: String) -> [UInt8] { lengthPrefixed(Array(text.utf8)) }

    /// The MQTT 5 property block: its length, then the encoded properties.
    public static func properties(_ encoded: [UInt8]) -> [UInt8] { variableByteInteger(encoded.count) + encoded }

    public static func connect(
        _ version: MQTTVersion,
        clientID: String,
        keepAlive: UInt16 = 60,
        cleanStart: Bool = true,
        will: RawWill? = nil,
        properties: [UInt8] = [],
        username: String? = nil,
        password: String? = nil
    ) -> [UInt8] {
        var flags: UInt8 = cleanStart ? 0x02 : 0
        if let will {
            flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0)
        }
        if username != nil { flags |= 0x80 }
        if password != nil { flags |= 0x40 }
        var body = string("MQTT") + [version.level, flags] + uint16(keepAlive)
        if version == .v5 { body += Self.properties(properties) }
        body += string(clientID)
        if let will {
            if version == .v5 { body += Self.properties(will.properties) }
            body += string(will.topic) + lengthPrefixed(will.payload)
        }
        if let username { body += string(username) }
        if let password { body += string(password) }
        return frame(0x10, body)
    }

    /// A PUBLISH with the topic as raw bytes, so tests can put invalid UTF-8 in it.
    public static func publish(
        _ version: MQTTVersion,
        topicBytes: [UInt8],
        payload: [UInt8],
        qos: UInt8 = 0,
        packetID: UInt16 = 0,
        dup: Bool = false,
        retain: Bool = false,
        properties: [UInt8] = []
    ) -> [UInt8] {
        let firstByte: UInt8 = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0)
        var body = lengthPrefixed(topicBytes)
        if qos > 0 { body += uint16(packetID) }
        if version == .v5 { body += Self.properties(properties) }
        return frame(firstByte, body + payload)
    }

    public static func publish(
        _ version: MQTTVersion,
        topic: String,
        payload: String,
        qos: UInt8 = 0,
        packetID: UInt16 = 0,
        dup: Bool = false,
        retain: Bool = false,
        properties: [UInt8] = []
    ) -> [UInt8] {
        publish(
            version, topicBytes: Array(topic.utf8), payload: Array(payload.utf8),
            qos: qos, packetID: packetID, dup: dup, retain: retain, properties: properties
        )
    }

    /// PUBACK, PUBREC, PUBREL or PUBCOMP with reason Success (omitted, as allowed).
    public static func ack(_ type: UInt8, packetID: UInt16) -> [UInt8] {
        frame(type << 4 | (type == PacketType.pubrel ? 0x02 : 0), uint16(packetID))
    }

    /// SUBSCRIBE for one filter; `options` is the requested QoS plus, in 5.0, the
    /// No Local / Retain As Published / Retain Handling bits.
    public static func subscribe(
        _ version: MQTTVersion,
        packetID: UInt16,
        filter: String,
        options: UInt8 = 0,
        properties: [UInt8] = []
    ) -> [UInt8] {
        var body = uint16(packetID)
        if version == .v5 { body += Self.properties(properties) }
        body += string(filter) + [options]
        return frame(0x82, body)
    }

    public static let pingreq: [UInt8] = [0xC0, 0x00]

    /// DISCONNECT; in 5.0 with a reason code (0 = normal disconnection).
    public static func disconnect(_ version: MQTTVersion, reason: UInt8 = 0) -> [UInt8] {
        version == .v5 ? frame(0xE0, [reason, 0x00]) : [0xE0, 0x00]
    }
}

/// MQTT 5 properties, each as identifier byte plus value.
public enum RawProperty {
    public static func messageExpiryInterval(_ seconds: UInt32) -> [UInt8] { [0x02] + RawPacket.uint32(seconds) }
    public static func sessionExpiryInterval(_ seconds: UInt32) -> [UInt8] { [0x11] + RawPacket.uint32(seconds) }
    public static func willDelayInterval(_ seconds: UInt32) -> [UInt8] { [0x18] + RawPacket.uint32(seconds) }
    public static func topicAlias(_ alias: UInt16) -> [UInt8] { [0x23] + RawPacket.uint16(alias) }
    public static func userProperty(_ key: String, _ value: String) -> [UInt8] {
        [0x26] + RawPacket.string(key) + RawPacket.string(value)
    }
}
