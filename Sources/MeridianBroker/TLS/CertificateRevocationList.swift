/// The revoked serial numbers of one CRL file (`crlfile`), checked against each client's leaf
/// certificate after BoringSSL has verified its chain.
///
/// NIOSSL offers no CRL option, so Meridian reads the list itself. It matches a certificate by
/// issuer name and serial number, as RFC 5280 identifies one. The list's own signature is not
/// checked: it is a file the operator installs, trusted as the CA file beside it is. As with
/// mosquitto (`X509_V_FLAG_CRL_CHECK`), only the client's leaf certificate is checked.
struct CertificateRevocationList: Equatable {
    /// The CRL issuer's Name, DER-encoded.
    var issuer: [UInt8]
    var revokedSerials: Set<[UInt8]>

    /// Reads a DER CRL (one `CertificateList`).
    init(der: [UInt8]) throws {
        var reader = DERReader(der)
        let list = try reader.read().children(expecting: DERElement.sequence, "CRL")
        guard let tbs = try list.first?.children(expecting: DERElement.sequence, "tbsCertList") else {
            throw DERError("empty CRL")
        }
        // version INTEGER OPTIONAL, signature AlgorithmIdentifier, issuer Name, thisUpdate Time,
        // nextUpdate Time OPTIONAL, revokedCertificates SEQUENCE OF … OPTIONAL, [0] extensions.
        var fields = tbs[...]
        if fields.first?.tag == DERElement.integer { fields = fields.dropFirst() }
        guard fields.count >= 3 else { throw DERError("short tbsCertList") }
        issuer = Array(fields[fields.startIndex + 1].encoded)
        fields = fields.dropFirst(3)
        if let next = fields.first, next.tag == DERElement.utcTime || next.tag == DERElement.generalizedTime {
            fields = fields.dropFirst()
        }
        var serials = Set<[UInt8]>()
        if let revoked = fields.first, revoked.tag == DERElement.sequence {
            for entry in try revoked.children() {
                let parts = try entry.children(expecting: DERElement.sequence, "revoked certificate")
                guard let serial = parts.first, serial.tag == DERElement.integer else {
                    throw DERError("revoked certificate without a serial number")
                }
                serials.insert(Array(serial.content))
            }
        }
        revokedSerials = serials
    }

    /// Reads every CRL in a PEM (`-----BEGIN X509 CRL-----`) or DER file's contents.
    static func parse(fileContents bytes: [UInt8]) throws -> [CertificateRevocationList] {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("-----BEGIN X509 CRL-----") {
            let blocks = PEM.blocks(in: text, label: "X509 CRL")
            guard !blocks.isEmpty else { throw DERError("no readable X509 CRL block") }
            return try blocks.map(CertificateRevocationList.init(der:))
        }
        return [try CertificateRevocationList(der: bytes)]
    }

    /// Whether this list revokes the certificate.
    func revokes(_ certificate: CertificateFields) -> Bool {
        certificate.issuer == issuer && revokedSerials.contains(certificate.serialNumber)
    }
}
