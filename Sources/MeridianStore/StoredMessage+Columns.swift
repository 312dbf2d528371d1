import MeridianMQTT
import NIOCore

/// How message fields that are not plain columns are stored.
///
/// - Properties: a BLOB of `identifier byte, value` entries in list order, NULL when there are
///   none (the common case). Integers are big-endian at their MQTT width (the Subscription
///   Identifier as a 4-byte integer), strings and binary data carry a 4-byte length. The
///   store's own format rather than the MQTT codec's, so that any property the broker keeps
///   (a will's, say) round-trips without being checked against the packet it came from.
/// - Subscription identifiers: a BLOB of 4-byte big-endian integers, NULL when empty.
/// - Subscription options: the SUBSCRIBE options byte (QoS, No Local, Retain As Published,
///   Retain Handling), as on the wire.
enum StoredColumns {
    struct DecodingError: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: Properties

    static func encode(_ properties: MQTTProperties) -> [UInt8]? {
        if properties.isEmpty { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for property in properties.list {
            bytes.append(property.identifier.rawValue)
            switch property {
            case .payloadFormatIndicator(let v), .requestProblemInformation(let v), .requestResponseInformation(let v),
                .maximumQoS(let v), .retainAvailable(let v), .wildcardSubscriptionAvailable(let v),
                .subscriptionIdentifierAvailable(let v), .sharedSubscriptionAvailable(let v):
                bytes.append(v)
            case .serverKeepAlive(let v), .receiveMaximum(let v), .topicAliasMaximum(let v), .topicAlias(let v):
                appendBigEndian(v, to: &bytes)
            case .messageExpiryInterval(let v), .sessionExpiryInterval(let v), .willDelayInterval(let v),
                .maximumPacketSize(let v), .subscriptionIdentifier(let v):
                appendBigEndian(v, to: &bytes)
            case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
                .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
                .reasonString(let s):
                appendString(s, to: &bytes)
            case .correlationData(let data), .authenticationData(let data):
                appendBigEndian(UInt32(data.readableBytes), to: &bytes)
                data.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
            case .userProperty(let key, let value):
                appendString(key, to: &bytes)
                appendString(value, to: &bytes)
            }
        }
        return bytes
    }

    static func decodeProperties(_ raw: UnsafeRawBufferPointer) throws -> MQTTProperties {
        if raw.isEmpty { return [] }
        var reader = Reader(bytes: raw)
        var list: [MQTTProperty] = []
        while !reader.isAtEnd {
            let rawIdentifier = try reader.byte()
            guard let identifier = MQTTPropertyIdentifier(rawValue: rawIdentifier) else {
                throw DecodingError(description: "unknown property identifier \(rawIdentifier)")
            }
            let property: MQTTProperty
            switch identifier {
            case .payloadFormatIndicator: property = .payloadFormatIndicator(try reader.byte())
            case .requestProblemInformation: property = .requestProblemInformation(try reader.byte())
            case .requestResponseInformation: property = .requestResponseInformation(try reader.byte())
            case .maximumQoS: property = .maximumQoS(try reader.byte())
            case .retainAvailable: property = .retainAvailable(try reader.byte())
            case .wildcardSubscriptionAvailable: property = .wildcardSubscriptionAvailable(try reader.byte())
            case .subscriptionIdentifierAvailable: property = .subscriptionIdentifierAvailable(try reader.byte())
            case .sharedSubscriptionAvailable: property = .sharedSubscriptionAvailable(try reader.byte())
            case .serverKeepAlive: property = .serverKeepAlive(try reader.integer())
            case .receiveMaximum: property = .receiveMaximum(try reader.integer())
            case .topicAliasMaximum: property = .topicAliasMaximum(try reader.integer())
            case .topicAlias: property = .topicAlias(try reader.integer())
            case .messageExpiryInterval: property = .messageExpiryInterval(try reader.integer())
            case .sessionExpiryInterval: property = .sessionExpiryInterval(try reader.integer())
            case .willDelayInterval: property = .willDelayInterval(try reader.integer())
            case .maximumPacketSize: property = .maximumPacketSize(try reader.integer())
            case .subscriptionIdentifier: property = .subscriptionIdentifier(try reader.integer())
            case .contentType: property = .contentType(try reader.string())
            case .responseTopic: property = .responseTopic(try reader.string())
            case .assignedClientIdentifier: property = .assignedClientIdentifier(try reader.string())
            case .authenticationMethod: property = .authenticationMethod(try reader.string())
            case .responseInformation: property = .responseInformation(try reader.string())
            case .serverReference: property = .serverReference(try reader.string())
            case .reasonString: property = .reasonString(try reader.string())
            case .correlationData: property = .correlationData(ByteBuffer(bytes: try reader.data()))
            case .authenticationData: property = .authenticationData(ByteBuffer(bytes: try reader.data()))
            case .userProperty: property = .userProperty(try reader.string(), try reader.string())
            }
            list.append(property)
        }
        return MQTTProperties(list)
    }

    // MARK: Subscription identifiers

    static func encode(subscriptionIdentifiers: [UInt32]) -> [UInt8]? {
        if subscriptionIdentifiers.isEmpty { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(subscriptionIdentifiers.count * 4)
        for identifier in subscriptionIdentifiers { appendBigEndian(identifier, to: &bytes) }
        return bytes
    }

    static func decodeSubscriptionIdentifiers(_ raw: UnsafeRawBufferPointer) throws -> [UInt32] {
        guard raw.count % 4 == 0 else {
            throw DecodingError(description: "subscription identifiers of \(raw.count) bytes")
        }
        var reader = Reader(bytes: raw)
        var identifiers: [UInt32] = []
        identifiers.reserveCapacity(raw.count / 4)
        while !reader.isAtEnd { identifiers.append(try reader.integer()) }
        return identifiers
    }

    // MARK: Subscription options

    static func encode(_ options: MQTTSubscriptionOptions) -> Int64 {
        var byte = Int64(options.qos.rawValue)
        if options.noLocal { byte |= 0x04 }
        if options.retainAsPublished { byte |= 0x08 }
        byte |= Int64(options.retainHandling.rawValue) << 4
        return byte
    }

    static func decodeSubscriptionOptions(_ value: Int64) throws -> MQTTSubscriptionOptions {
        guard let qos = MQTTQoS(rawValue: UInt8(truncatingIfNeeded: value & 0x03)),
            let retainHandling = MQTTRetainHandling(rawValue: UInt8(truncatingIfNeeded: (value >> 4) & 0x03))
        else { throw DecodingError(description: "subscription options byte \(value)") }
        return MQTTSubscriptionOptions(
            qos: qos, noLocal: value & 0x04 != 0, retainAsPublished: value & 0x08 != 0, retainHandling: retainHandling)
    }

    // MARK: Helpers

    private static func appendBigEndian<Integer: FixedWidthInteger>(_ value: Integer, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private static func appendString(_ string: String, to bytes: inout [UInt8]) {
        appendBigEndian(UInt32(string.utf8.count), to: &bytes)
        bytes.append(contentsOf: string.utf8)
    }

    private struct Reader {
        var bytes: UnsafeRawBufferPointer
        var offset = 0

        var isAtEnd: Bool { offset == bytes.count }

        mutating func take(_ count: Int) throws -> UnsafeRawBufferPointer {
            guard count >= 0, bytes.count - offset >= count else {
                throw DecodingError(description: "truncated at byte \(offset)")
            }
            defer { offset += count }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
        }

        mutating func byte() throws -> UInt8 { try take(1)[0] }

        mutating func integer<Integer: FixedWidthInteger>() throws -> Integer {
            var value: Integer = 0
            for byte in try take(MemoryLayout<Integer>.size) { value = value << 8 | Integer(byte) }
            return value
        }

        mutating func data() throws -> UnsafeRawBufferPointer {
            let count: UInt32 = try integer()
            return try take(Int(count))
        }

        mutating func string() throws -> String {
            String(decoding: try data(), as: UTF8.self)
        }
    }
}
