/// UTF-8 Encoded String rules (section 1.5.4): well-formed UTF-8 as Unicode defines it
/// (no overlong forms, no surrogates U+D800–U+DFFF, nothing above U+10FFFF) and no U+0000.
///
/// Other control characters and non-characters are accepted, as section 1.5.4 allows.
enum MQTTUTF8 {
    private static let highBits: UInt64 = 0x8080_8080_8080_8080
    private static let lowBits: UInt64 = 0x0101_0101_0101_0101

    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        var index = 0
        while index < count {
            // ASCII fast path: eight bytes with no high bit and no zero byte.
            if index &+ 8 <= count {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                if word & highBits == 0 && (word &- lowBits) & ~word & highBits == 0 {
                    index &+= 8
                    continue
                }
            }
            let lead = bytes[index]
            if lead < 0x80 {
                if lead == 0 { return false }
                index &+= 1
                continue
            }
            guard let length = sequenceLength(lead), index &+ length <= count else { return false }
            let second = bytes[index &+ 1]
            guard second & 0xC0 == 0x80 else { return false }
            switch lead {
            case 0xE0 where second < 0xA0: return false  // overlong three-byte form
            case 0xED where second >= 0xA0: return false  // surrogate
            case 0xF0 where second < 0x90: return false  // overlong four-byte form
            case 0xF4 where second >= 0x90: return false  // above U+10FFFF
            default: break
            }
            if length >= 3 {
                guard bytes[index &+ 2] & 0xC0 == 0x80 else { return false }
                if length == 4 {
                    guard bytes[index &+ 3] & 0xC0 == 0x80 else { return false }
                }
            }
            index &+= length
        }
        return true
    }

    /// The length of the sequence a lead byte starts, or nil for a byte that cannot lead
    /// (continuation bytes, the overlong leads 0xC0/0xC1, and 0xF5 and above).
    @inline(__always)
    private static func sequenceLength(_ lead: UInt8) -> Int? {
        switch lead {
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return nil
        }
    }
}
