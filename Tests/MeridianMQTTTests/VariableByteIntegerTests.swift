import MeridianMQTT
import NIOCore
import Testing

@Suite struct VariableByteIntegerTests {
    static let boundaries: [(Int, [UInt8])] = [
        (0, [0x00]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]), (16_384, [0x80, 0x80, 0x01]),
        (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]), (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
    ]

    @Test func boundaryValues() {
        for (value, bytes) in Self.boundaries {
            var buffer = ByteBuffer()
            #expect(buffer.writeEncodedInteger(value, strategy: MQTTVariableByteInteger()) == bytes.count)
            #expect(Array(buffer.readableBytesView) == bytes)
            #expect(MQTTVariableByteInteger.size(of: value) == bytes.count)
            #expect(buffer.readEncodedInteger(as: Int.self, strategy: MQTTVariableByteInteger()) == value)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func incompleteAndOverlong() {
        var incomplete = ByteBuffer(bytes: [0xFF, 0xFF])
        #expect(incomplete.readEncodedInteger(as: Int.self, strategy: MQTTVariableByteInteger()) == nil)
        #expect(incomplete.readerIndex == 0)
        var fiveBytes = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(fiveBytes.readEncodedInteger(as: Int.self, strategy: MQTTVariableByteInteger()) == nil)
        #expect(fiveBytes.readerIndex == 0)
    }

    @Test func lengthPrefixedWrite() {
        var buffer = ByteBuffer()
        buffer.writeLengthPrefixed(strategy: MQTTVariableByteInteger()) { $0.writeRepeatingByte(9, count: 200) }
        #expect(buffer.getBytes(at: 0, length: 2) == [0xC8, 0x01])
        #expect(buffer.readLengthPrefixedSlice(strategy: MQTTVariableByteInteger())?.readableBytes == 200)
    }
}
