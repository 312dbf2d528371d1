internal import CCrypto

/// Standard base64 (with `=` padding), as `mosquitto_passwd` writes salts and hashes.
enum Base64 {
    /// The bytes `text` encodes, or nil if it is not well-formed base64.
    static func decode(_ text: Substring) -> [UInt8]? {
        let input = Array(text.utf8)
        guard !input.isEmpty, input.count % 4 == 0 else { return nil }
        let padding = input.reversed().prefix(while: { $0 == UInt8(ascii: "=") }).count
        guard padding <= 2 else { return nil }
        var output = [UInt8](repeating: 0, count: input.count / 4 * 3)
        // EVP_DecodeBlock decodes whole 4-character groups and counts the padding as zero bytes.
        let written = meridian_base64_decode_block(&output, input, Int32(input.count))
        guard written == output.count else { return nil }
        return Array(output.dropLast(padding))
    }
}
