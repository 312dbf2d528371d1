import NIOCore

/// Readers and writers for the MQTT data representations of section 1.5. Readers work on a
/// packet body that is already whole, so a short read is a malformed packet, not "need more".
extension ByteBuffer {
    mutating func readMQTTByte(_ field: StaticString) throws(MQTTCodecError) -> UInt8 {
        guard let value = self.readInteger(as: UInt8.self) else { throw .malformed("truncated \(field)") }
        return value
    }

    mutating func readMQTTUInt16(_ field: StaticString) throws(MQTTCodecError) -> UInt16 {
        guard let value = self.readInteger(as: UInt16.self) else { throw .malformed("truncated \(field)") }
        return value
    }

    mutating func readMQTTUInt32(_ field: StaticString) throws(MQTTCodecError) -> UInt32 {
        guard let value = self.readInteger(as: UInt32.self) else { throw .malformed("truncated \(field)") }
        return value
    }

    mutating func readMQTTVariableByteInteger(_ field: StaticString) throws(MQTTCodecError) -> Int {
        guard let value = self.readEncodedInteger(as: Int.self, strategy: MQTTVariableByteInteger()) else {
            throw .malformed("truncated or over-long variable byte integer in \(field)")
        }
        return value
    }

    /// A packet identifier, which must not be zero (section 2.2.1).
    mutating func readMQTTPacketIdentifier() throws(MQTTCodecError) -> UInt16 {
        let identifier = try self.readMQTTUInt16("packet identifier")
        guard identifier != 0 else { throw .protocolError("packet identifier 0") }
        return identifier
    }

    /// A UTF-8 Encoded String (section 1.5.4), validated on the buffer's bytes.
    mutating func readMQTTString(_ field: StaticString) throws(MQTTCodecError) -> String {
        let length = Int(try self.readMQTTUInt16(field))
        guard self.readableBytes >= length else { throw .malformed("truncated \(field)") }
        let string: String? = self.withUnsafeReadableBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw.prefix(length))
            guard MQTTUTF8.isValid(bytes) else { return nil }
            return String(decoding: bytes.assumingMemoryBound(to: UInt8.self), as: UTF8.self)
        }
        guard let string else { throw .malformed("\(field) is not valid UTF-8 or contains U+0000") }
        self.moveReaderIndex(forwardBy: length)
        return string
    }

    /// Binary Data (section 1.5.6), as a slice of this buffer.
    mutating func readMQTTBinary(_ field: StaticString) throws(MQTTCodecError) -> ByteBuffer {
        let length = Int(try self.readMQTTUInt16(field))
        guard let slice = self.readSlice(length: length) else { throw .malformed("truncated \(field)") }
        return slice
    }

    @discardableResult
    mutating func writeMQTTString(_ string: String) -> Int {
        let length = string.utf8.count
        precondition(length <= Int(UInt16.max), "MQTT string longer than 65,535 bytes")
        self.writeInteger(UInt16(truncatingIfNeeded: length))
        return 2 + self.writeString(string)
    }

    @discardableResult
    mutating func writeMQTTBinary(_ data: ByteBuffer) -> Int {
        let length = data.readableBytes
        precondition(length <= Int(UInt16.max), "MQTT binary data longer than 65,535 bytes")
        self.writeInteger(UInt16(truncatingIfNeeded: length))
        return 2 + self.writeImmutableBuffer(data)
    }

    @discardableResult
    mutating func writeMQTTVariableByteInteger(_ value: Int) -> Int {
        self.writeEncodedInteger(value, strategy: MQTTVariableByteInteger())
    }

    /// Writes the fixed header (section 2.1.1).
    mutating func writeMQTTFixedHeader(_ type: MQTTPacketType, flags: UInt8 = 0, remainingLength: Int) {
        self.writeInteger(type.rawValue << 4 | flags)
        self.writeMQTTVariableByteInteger(remainingLength)
    }
}

/// The wire size of a UTF-8 Encoded String.
@inline(__always)
func mqttStringSize(_ string: String) -> Int { 2 + string.utf8.count }

