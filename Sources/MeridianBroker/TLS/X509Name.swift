/// The parts of an X.509 certificate that client identity needs: the subject's common name and
/// the subject as mosquitto prints it (OpenSSL's `X509_NAME_print_ex` with `XN_FLAG_RFC2253`),
/// plus the serial number and issuer that a revocation list names.
struct CertificateFields: Equatable {
    /// The serial number's INTEGER value octets.
    var serialNumber: [UInt8]
    /// The issuer Name, DER-encoded, for exact comparison with a CRL's issuer.
    var issuer: [UInt8]
    /// The subject, as a sequence of relative distinguished names of (type OID, value) pairs.
    var subject: [[X509Attribute]]

    /// Reads a DER certificate.
    init(der: [UInt8]) throws {
        var reader = DERReader(der)
        let certificate = try reader.read().children(expecting: DERElement.sequence, "certificate")
        guard let tbs = try certificate.first?.children(expecting: DERElement.sequence, "tbsCertificate") else {
            throw DERError("empty certificate")
        }
        // [0] EXPLICIT version is optional (absent means v1).
        let fields = tbs.first?.tag == 0xA0 ? Array(tbs.dropFirst()) : tbs
        guard fields.count >= 5, fields[0].tag == DERElement.integer else { throw DERError("short tbsCertificate") }
        serialNumber = Array(fields[0].content)
        issuer = Array(fields[2].encoded)
        subject = try X509Attribute.name(fields[4])
    }

    /// The first common name (2.5.4.3) of the subject, as mosquitto's `use_identity_as_username` takes it.
    var commonName: String? {
        subject.joined().first { $0.type == "2.5.4.3" }?.text
    }

    /// The subject in RFC 2253 order and escaping, as mosquitto's `use_subject_as_username` gives it:
    /// `CN=device-a,O=Example,C=DE` (the last RDN first; multi-valued RDNs joined with `+`).
    var subjectString: String {
        subject.reversed().map { rdn in rdn.map(\.rfc2253).joined(separator: "+") }.joined(separator: ",")
    }
}

/// One AttributeTypeAndValue of a distinguished name.
struct X509Attribute: Equatable {
    /// The attribute type, as a dotted OID.
    var type: String
    /// The value's string tag (UTF8String, PrintableString, …).
    var valueTag: UInt8
    /// The whole value element, DER-encoded.
    var valueDER: [UInt8]
    /// The value as text, when it is a string type; `nil` for other types.
    var text: String?

    /// The RDNs of a DER Name (SEQUENCE OF SET OF AttributeTypeAndValue).
    static func name(_ element: DERElement) throws -> [[X509Attribute]] {
        try element.children(expecting: DERElement.sequence, "name").map { rdn in
            try rdn.children(expecting: DERElement.set, "relative distinguished name").map { pair in
                let parts = try pair.children(expecting: DERElement.sequence, "attribute")
                guard parts.count == 2 else { throw DERError("attribute without a value") }
                return X509Attribute(
                    type: try parts[0].objectIdentifierString(), valueTag: parts[1].tag,
                    valueDER: Array(parts[1].encoded), text: decodeString(parts[1])
                )
            }
        }
    }

    private static func decodeString(_ element: DERElement) -> String? {
        switch element.tag {
        case 0x0C, 0x13, 0x16, 0x12, 0x1A:  // UTF8String, PrintableString, IA5String, NumericString, VisibleString
            return String(decoding: element.content, as: UTF8.self)
        case 0x14:  // T61String, read as Latin-1 as OpenSSL does
            return String(String.UnicodeScalarView(element.content.map { Unicode.Scalar($0) }))
        case 0x1E:  // BMPString: UTF-16BE
            let units = stride(from: element.content.startIndex, to: element.content.endIndex - 1, by: 2).map {
                UInt16(element.content[$0]) << 8 | UInt16(element.content[$0 + 1])
            }
            return String(decoding: units, as: UTF16.self)
        default:
            return nil
        }
    }

    /// OpenSSL's short names for the attribute types of its `XN_FLAG_RFC2253` output.
    static let shortNames: [String: String] = [
        "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L",
        "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title",
        "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier", "2.5.4.46": "dnQualifier",
        "2.5.4.65": "pseudonym", "2.5.4.97": "organizationIdentifier",
        "0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.25": "DC",
        "1.2.840.113549.1.9.1": "emailAddress",
    ]

    /// `type=value` with RFC 2253 escaping as OpenSSL's `ASN1_STRFLGS_RFC2253` does it: `,+"\<>;`
    /// escaped with a backslash, a leading `#` or space and a trailing space too, control
    /// characters and bytes above 127 (of the UTF-8) as `\XX`. Unknown types print as their OID
    /// with the DER value in hex (`1.2.3=#0C03616263`).
    var rfc2253: String {
        guard let name = Self.shortNames[type], let text else {
            return "\(Self.shortNames[type] ?? type)=#" + valueDER.map(Self.hex).joined()
        }
        let bytes = Array(text.utf8)
        var output = "\(name)="
        for (index, byte) in bytes.enumerated() {
            let isEdge = index == 0 || index == bytes.count - 1
            switch byte {
            case UInt8(ascii: ","), UInt8(ascii: "+"), UInt8(ascii: "\""), UInt8(ascii: "\\"),
                 UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ";"):
                output += "\\" + String(UnicodeScalar(byte))
            case UInt8(ascii: "#") where index == 0:
                output += "\\#"
            case UInt8(ascii: " ") where isEdge:
                output += "\\ "
            case 0..<0x20, 0x7F...:
                output += "\\" + Self.hex(byte)
            default:
                output += String(UnicodeScalar(byte))
            }
        }
        return output
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
