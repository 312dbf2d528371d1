import NIOCore

/// The MQTT Variable Byte Integer (section 1.5.5): seven bits per byte, least significant
/// group first, the high bit set on every byte but the last, at most four bytes.
///
/// As a `NIOBinaryIntegerEncodingStrategy` it works with `readEncodedInteger(strategy:)`,
/// `writeEncodedInteger(_:strategy:)` and `writeLengthPrefixed(strategy:)`.
public struct MQTTVariableByteInteger: NIOBinaryIntegerEncodingStrategy, Sendable {
    /// The largest value four bytes can carry: 268,435,455.
    public static let maximum = 268_435_455

    public init() {}

    /// What the bytes at an index hold.
    @usableFromInline
    enum Peek: Equatable {
        case value(Int, byteCount: Int)
        case needMoreBytes
        /// The fourth byte still has its continuation bit set.
        case malformed
    }

    /// Decodes the integer starting at `index` without moving the reader index.
    @inlinable
    static func peek(_ buffer: ByteBuffer, at index: Int) -> Peek {
        var value = 0
        var shift = 0
        for offset in 0..<4 {
            guard let byte = buffer.getInteger(at: index &+ offset, as: UInt8.self) else { return .needMoreBytes }
            value |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return .value(value, byteCount: offset + 1) }
            shift += 7
        }
        return .malformed
    }

    /// The number of bytes `value` takes on the wire (1–4).
    @inlinable
    public static func size(of value: Int) -> Int {
        switch value {
        case ..<128: return 1
        case ..<16_384: return 2
        case ..<2_097_152: return 3
        default: return 4
        }
    }

    /// Returns nil, leaving the reader index alone, when the bytes are incomplete, malformed
    /// (five bytes) or the value does not fit `IntegerType`.
    @inlinable
    public func readInteger<IntegerType: FixedWidthInteger>(
        as: IntegerType.Type,
        from buffer: inout ByteBuffer
    ) -> IntegerType? {
        guard case .value(let value, let count) = Self.peek(buffer, at: buffer.readerIndex),
            let result = IntegerType(exactly: value)
        else { return nil }
        buffer.moveReaderIndex(forwardBy: count)
        return result
    }

    /// Writes the minimal encoding. Writing a value outside `0...maximum` is a programmer error.
    @inlinable
    public func writeInteger<IntegerType: FixedWidthInteger>(
        _ integer: IntegerType,
        to buffer: inout ByteBuffer
    ) -> Int {
        precondition(integer >= 0 && integer <= Self.maximum, "Variable Byte Integer out of range: \(integer)")
        var value = UInt32(integer)
        var count = 0
        repeat {
            var byte = UInt8(truncatingIfNeeded: value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            buffer.writeInteger(byte)
            count += 1
        } while value != 0
        return count
    }

    @inlinable
    public var requiredBytesHint: Int { 1 }
}
