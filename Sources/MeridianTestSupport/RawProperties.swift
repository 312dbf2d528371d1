/// Reads the MQTT 5 properties of packets the broker sent (CONNACK, DISCONNECT...), by
/// hand, independent of the codec under test.
public enum RawProperties {
    /// The properties of a 5.0 CONNACK: identifier to raw value bytes (for a repeated
    /// identifier, such as User Property, the last one).
    public static func ofConnack(_ frame: RawFrame) throws -> [UInt8: [UInt8]] {
        guard frame.type == PacketType.connack, frame.body.count >= 3 else {
            throw RawClientError("not a 5.0 CONNACK with properties: \(frame)")
        }
        return try parse(Array(frame.body[2...]))
    }

    /// Parses a property block that starts with its variable byte integer length.
    public static func parse(_ block: [UInt8]) throws -> [UInt8: [UInt8]] {
        var index = 0
        let length = try readVariableByteInteger(block, &index)
        let end = index + length
        guard end <= block.count else { throw RawClientError("property length \(length) past the packet end") }
        var properties: [UInt8: [UInt8]] = [:]
        while index < end {
            let identifier = block[index]
            index += 1
            let start = index
            switch identifier {
            case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A: index += 1
            case 0x13, 0x21, 0x22, 0x23: index += 2
            case 0x02, 0x11, 0x18, 0x27: index += 4
            case 0x0B: _ = try readVariableByteInteger(block, &index)
            case 0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F: try skipLengthPrefixed(block, &index)
            case 0x26:
                try skipLengthPrefixed(block, &index)
                try skipLengthPrefixed(block, &index)
            default: throw RawClientError("unknown property identifier 0x\(String(identifier, radix: 16))")
            }
            guard index <= end else { throw RawClientError("property 0x\(String(identifier, radix: 16)) runs past the block") }
            properties[identifier] = Array(block[start..<index])
        }
        return properties
    }

    /// A two- or four-byte integer property value.
    public static func integer(_ bytes: [UInt8]?) -> UInt32? {
        guard let bytes, !bytes.isEmpty else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    private static func skipLengthPrefixed(_ bytes: [UInt8], _ index: inout Int) throws {
        guard index + 1 < bytes.count else { throw RawClientError("truncated property") }
        index += 2 + (Int(bytes[index]) << 8 | Int(bytes[index + 1]))
    }

    private static func readVariableByteInteger(_ bytes: [UInt8], _ index: inout Int) throws -> Int {
        var value = 0
        var multiplier = 1
        for _ in 0..<4 {
            guard index < bytes.count else { throw RawClientError("truncated variable byte integer") }
            let byte = bytes[index]
            index += 1
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 { return value }
            multiplier *= 128
        }
        throw RawClientError("variable byte integer longer than 4 bytes")
    }
}
