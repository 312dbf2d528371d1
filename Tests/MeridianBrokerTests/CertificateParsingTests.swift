import Foundation
@testable import MeridianBroker
import MeridianTestSupport
import Testing

/// The DER reading behind `use_identity_as_username`, `use_subject_as_username` and `crlfile`,
/// on certificates and a CRL made by `openssl`, and the start-up errors of a TLS listener.
@Suite("Certificates and revocation lists", .serialized)
struct CertificateParsingTests {
    static func fields(_ path: String) throws -> CertificateFields {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let der = try #require(PEM.blocks(in: text, label: "CERTIFICATE").first)
        return try CertificateFields(der: der)
    }

    @Test("common name and subject as mosquitto gives them; serial and issuer for the CRL")
    func deviceCertificate() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.cleanup() }
        let deviceA = try Self.fields(certificates.deviceA.certificate)
        #expect(deviceA.commonName == "device-a")
        #expect(deviceA.subjectString == "CN=device-a,O=Meridian Test,C=DE")
        #expect(deviceA.serialNumber == [20])
        let server = try Self.fields(certificates.server.certificate)
        #expect(server.commonName == "localhost")
        #expect(server.issuer == deviceA.issuer)
        #expect(try Self.fields(certificates.foreign.certificate).issuer != deviceA.issuer)

        let crlBytes = Array(try Data(contentsOf: URL(fileURLWithPath: certificates.crl)))
        let lists = try CertificateRevocationList.parse(fileContents: crlBytes)
        #expect(lists.count == 1)
        #expect(lists[0].revokedSerials == [[23]])
        #expect(lists[0].revokes(try Self.fields(certificates.revoked.certificate)))
        #expect(!lists[0].revokes(deviceA))
        #expect(!lists[0].revokes(try Self.fields(certificates.foreign.certificate)))

        // The same CRL in DER.
        let der = try #require(PEM.blocks(in: String(decoding: crlBytes, as: UTF8.self), label: "X509 CRL").first)
        #expect(try CertificateRevocationList.parse(fileContents: der) == lists)
    }

    @Test("RFC 2253 escaping as OpenSSL's XN_FLAG_RFC2253 does it", arguments: [
        ("a,b+c", "CN=a\\,b\\+c"),
        ("x\"y\\z<>;", "CN=x\\\"y\\\\z\\<\\>\\;"),
        ("#lead", "CN=\\#lead"),
        (" both ", "CN=\\ both\\ "),
        ("in side", "CN=in side"),
        ("é", "CN=\\C3\\A9"),
    ])
    func escaping(value: String, expected: String) {
        let attribute = X509Attribute(type: "2.5.4.3", valueTag: 0x0C, valueDER: [], text: value)
        #expect(attribute.rfc2253 == expected)
    }

    @Test("unknown attribute types print as the OID and the value's DER in hex")
    func unknownType() {
        let attribute = X509Attribute(type: "1.2.3.4", valueTag: 0x0C, valueDER: [0x0C, 0x01, 0x61], text: "a")
        #expect(attribute.rfc2253 == "1.2.3.4=#0C0161")
    }

    @Test("object identifiers, including multi-byte arcs")
    func objectIdentifiers() throws {
        let email = DERElement(tag: 0x06, content: [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01], encoded: [])
        #expect(try email.objectIdentifierString() == "1.2.840.113549.1.9.1")
        let cn = DERElement(tag: 0x06, content: [0x55, 0x04, 0x03], encoded: [])
        #expect(try cn.objectIdentifierString() == "2.5.4.3")
    }

    @Test("truncated or malformed DER throws rather than traps", arguments: [
        [UInt8](), [0x30], [0x30, 0x05, 0x02], [0x30, 0x85, 0, 0, 0, 0, 1], [0x1F, 0x01, 0x00],
    ])
    func malformed(bytes: [UInt8]) {
        #expect(throws: DERError.self) { _ = try CertificateFields(der: bytes) }
        #expect(throws: DERError.self) { _ = try CertificateRevocationList(der: bytes) }
    }

    @Test("a TLS listener's bad files are refused with the option and the file named")
    func loadErrors() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.cleanup() }
        let missing = certificates.directory.appendingPathComponent("missing.pem").path
        func error(_ settings: ListenerTLSSettings) -> String {
            do {
                _ = try ServerTLS.load(settings)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        let server = certificates.server
        #expect(error(.init(certfile: missing, keyfile: server.key)) == "certfile \(missing): No such file or directory")
        #expect(error(.init(certfile: server.certificate, keyfile: missing)) == "keyfile \(missing): No such file or directory")
        #expect(error(.init(certfile: server.key, keyfile: server.key)) == "certfile \(server.key): no PEM certificate in the file")
        #expect(error(.init(certfile: server.certificate, keyfile: server.certificate)).hasPrefix("keyfile \(server.certificate): not a readable PEM private key"))
        #expect(error(.init(certfile: server.certificate, keyfile: server.key, cafile: missing)) == "cafile \(missing): No such file or directory")
        #expect(error(.init(certfile: server.certificate, keyfile: server.key, capath: server.key)) == "capath \(server.key): not a directory")
        #expect(error(.init(certfile: server.certificate, keyfile: server.key, crlfile: server.key)).hasPrefix("crlfile \(server.key): not a readable certificate revocation list"))
        #expect(error(.init(certfile: server.certificate, keyfile: certificates.deviceA.key)).hasPrefix("certfile \(server.certificate) and keyfile \(certificates.deviceA.key): cannot set up TLS"))
        #expect(error(.init(certfile: server.certificate, keyfile: server.key, ciphers: "NO-SUCH-CIPHER")) == "ciphers 'NO-SUCH-CIPHER': not a cipher list BoringSSL accepts (OpenSSL syntax, TLS 1.2 suites)")
        #expect(error(.init(certfile: server.certificate, keyfile: server.key, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305")) == "loaded")
        #expect(error(.init(certfile: server.certificate, keyfile: server.key, cafile: certificates.ca.certificate, crlfile: certificates.crl)) == "loaded")
        // A handler for each combination (NIOSSL allows the revocation check only with client verification).
        for require in [false, true] {
            let settings = ListenerTLSSettings(
                certfile: server.certificate, keyfile: server.key, cafile: certificates.ca.certificate,
                requireCertificate: require, crlfile: certificates.crl
            )
            let tls = try ServerTLS.load(settings)
            #expect(tls.revocationLists.count == (require ? 1 : 0))
            _ = tls.makeHandler()
        }
    }
}
