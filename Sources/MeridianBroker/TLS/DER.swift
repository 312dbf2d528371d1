/// A minimal reader of DER (ASN.1 distinguished encoding), enough to take apart X.509
/// certificates and CRLs for what BoringSSL's API through NIOSSL does not give: the subject as
/// mosquitto prints it, and the serial numbers and issuer of a revocation list.
///
/// It reads tag-length-value elements only; it checks nothing about signatures.
struct DERElement {
    /// The identifier octet (class, constructed bit and tag number; multi-byte tags are refused).
    let tag: UInt8
    /// The value octets.
    let content: ArraySlice<UInt8>
    /// The whole element, identifier and length included (for byte-wise comparison of names).
    let encoded: ArraySlice<UInt8>

    static let integer: UInt8 = 0x02
    static let objectIdentifier: UInt8 = 0x06
    static let sequence: UInt8 = 0x30
    static let set: UInt8 = 0x31
    static let utcTime: UInt8 = 0x17
    static let generalizedTime: UInt8 = 0x18

    /// The elements inside a constructed element.
    func children() throws -> [DERElement] {
        var reader = DERReader(content)
        var elements: [DERElement] = []
        while !reader.isAtEnd { elements.append(try reader.read()) }
        return elements
    }

    /// The element's children, when it has `tag`; throws otherwise.
    func children(expecting tag: UInt8, _ what: String) throws -> [DERElement] {
        guard self.tag == tag else { throw DERError("\(what): unexpected tag \(self.tag)") }
        return try children()
    }

    /// An OBJECT IDENTIFIER's dotted form.
    func objectIdentifierString() throws -> String {
        guard tag == Self.objectIdentifier, !content.isEmpty else { throw DERError("bad object identifier") }
        var arcs: [UInt64] = []
        var value: UInt64 = 0
        var pending = false
        for byte in content {
            guard value < (1 << 56) else { throw DERError("object identifier arc too large") }
            value = value << 7 | UInt64(byte & 0x7F)
            pending = byte & 0x80 != 0
            if !pending {
                arcs.append(value)
                value = 0
            }
        }
        if pending { throw DERError("truncated object identifier") }
        // The first subidentifier packs the first two arcs (X.690 8.19.4).
        let first = arcs.removeFirst()
        let head: [UInt64] = first < 80 ? [first / 40, first % 40] : [2, first - 80]
        return (head + arcs).map(String.init).joined(separator: ".")
    }
}

struct DERError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Reads DER elements one after another from a byte slice.
struct DERReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }
    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    var isAtEnd: Bool { bytes.isEmpty }

    mutating func read() throws -> DERElement {
        let all = bytes
        let start = bytes.startIndex
        guard let tag = bytes.popFirst() else { throw DERError("truncated element") }
        guard tag & 0x1F != 0x1F else { throw DERError("multi-byte tags are not supported") }
        guard let first = bytes.popFirst() else { throw DERError("truncated length") }
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard (1...4).contains(count), bytes.count >= count else { throw DERError("bad length") }
            for _ in 0..<count { length = length << 8 | Int(bytes.popFirst()!) }
        }
        guard bytes.count >= length else { throw DERError("element longer than its container") }
        let content = bytes.prefix(length)
        bytes = bytes.dropFirst(length)
        return DERElement(tag: tag, content: content, encoded: all[start..<content.endIndex])
    }
}

/// PEM blocks (`-----BEGIN <label>-----`) decoded to DER; base64 only, no Foundation.
enum PEM {
    static func blocks(in text: String, label: String) -> [[UInt8]] {
        var blocks: [[UInt8]] = []
        var body: String?
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            if line.hasPrefix("-----BEGIN \(label)-----") {
                body = ""
            } else if line.hasPrefix("-----END \(label)-----") {
                if let body, let der = base64Decode(body) { blocks.append(der) }
                body = nil
            } else if body != nil {
                body! += line.filter { !$0.isWhitespace }
            }
        }
        return blocks
    }

    static func base64Decode(_ text: String) -> [UInt8]? {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for scalar in text.unicodeScalars {
            let value: UInt32
            switch scalar {
            case "A"..."Z": value = scalar.value - 65
            case "a"..."z": value = scalar.value - 97 + 26
            case "0"..."9": value = scalar.value - 48 + 52
            case "+": value = 62
            case "/": value = 63
            case "=": continue
            default: return nil
            }
            buffer = buffer << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return output
    }
}
