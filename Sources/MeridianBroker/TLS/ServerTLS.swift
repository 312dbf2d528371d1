import NIOCore
import NIOSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A TLS listener's loaded state: the NIOSSL context, the revocation lists and how a verified
/// certificate names its client. Built once at start-up, shared by every connection of the listener.
struct ServerTLS: @unchecked Sendable {
    // NIOSSLContext is thread-safe for creating connections.
    let context: NIOSSLContext
    let revocationLists: [CertificateRevocationList]
    let certificateUsername: ListenerTLSSettings.CertificateUsername
    let requireCertificate: Bool

    /// Reads every file the settings name, refusing with an error that names the option and the
    /// file when one cannot be read or is not what it should be.
    static func load(_ settings: ListenerTLSSettings) throws -> ServerTLS {
        let chain = try TLSFiles.certificateChain(settings.certfile, option: "certfile")
        let key = try TLSFiles.privateKey(settings.keyfile, option: "keyfile")
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = settings.minimumVersion == .tls13 ? .tlsv13 : .tlsv12
        if let ciphers = settings.ciphers {
            guard CipherList.isValid(ciphers) else {
                throw TLSFiles.Failure("ciphers '\(ciphers)': not a cipher list BoringSSL accepts (OpenSSL syntax, TLS 1.2 suites)")
            }
            configuration.cipherSuites = ciphers
        }
        try TLSFiles.setTrustRoots(of: &configuration, cafile: settings.cafile, capath: settings.capath, prefix: "")
        // Mosquitto asks for a client certificate only with require_certificate (SSL_VERIFY_PEER |
        // SSL_VERIFY_FAIL_IF_NO_PEER_CERT); without it no certificate is requested.
        configuration.certificateVerification = settings.requireCertificate ? .noHostnameVerification : .none
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFiles.Failure(
                "certfile \(settings.certfile) and keyfile \(settings.keyfile): cannot set up TLS "
                    + "(does the key match the certificate?): \(error)"
            )
        }
        var lists: [CertificateRevocationList] = []
        // Without require_certificate no client certificate is asked for, so there is nothing to
        // check the list against (and NIOSSL allows the extra check only with verification on);
        // the file is still read, so that a bad one is reported at start-up.
        if let crlfile = settings.crlfile {
            let bytes = try TLSFiles.read(crlfile, option: "crlfile")
            do {
                lists = try CertificateRevocationList.parse(fileContents: bytes)
            } catch {
                throw TLSFiles.Failure("crlfile \(crlfile): not a readable certificate revocation list (\(error))")
            }
        }
        return ServerTLS(
            context: context, revocationLists: settings.requireCertificate ? lists : [],
            certificateUsername: settings.certificateUsername, requireCertificate: settings.requireCertificate
        )
    }

    /// A server handler for one connection. With revocation lists, the client's leaf certificate
    /// is checked after BoringSSL has verified its chain (the additional verification step keeps
    /// the default verification in place, where a custom verification callback would replace it).
    func makeHandler() -> NIOSSLServerHandler {
        guard !revocationLists.isEmpty else { return NIOSSLServerHandler(context: context) }
        let lists = revocationLists
        return NIOSSLServerHandler._makeSSLServerHandler(context: context) { certificate, channel in
            do {
                let fields = try CertificateFields(der: certificate.toDERBytes())
                if lists.contains(where: { $0.revokes(fields) }) {
                    return channel.eventLoop.makeFailedFuture(CertificateRevoked())
                }
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
    }
}

/// The client certificate is on the listener's `crlfile`.
struct CertificateRevoked: Error, CustomStringConvertible {
    var description: String { "client certificate revoked (crlfile)" }
}

/// File loading with errors that name the option and the file, shared by listeners and bridges.
public enum TLSFiles {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// The file's bytes, or an error naming it with the system's reason.
    static func read(_ path: String, option: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw Failure("\(option) \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count { break }
        }
        if ferror(file) != 0 { throw Failure("\(option) \(path): read error") }
        return bytes
    }

    /// The PEM certificates of a file (leaf first for a chain), at least one.
    public static func certificateChain(_ path: String, option: String) throws -> [NIOSSLCertificate] {
        let bytes = try read(path, option: option)
        let certificates = (try? NIOSSLCertificate.fromPEMBytes(bytes)) ?? []
        guard !certificates.isEmpty else { throw Failure("\(option) \(path): no PEM certificate in the file") }
        return certificates
    }

    /// The PEM private key of a file.
    public static func privateKey(_ path: String, option: String) throws -> NIOSSLPrivateKey {
        let bytes = try read(path, option: option)
        do {
            return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
        } catch {
            throw Failure("\(option) \(path): not a readable PEM private key (an encrypted key is not supported)")
        }
    }

    /// Sets the trust roots from a CA file and/or a CA directory; leaves them alone when neither is given.
    /// - Parameter prefix: put before the option names in errors (`bridge_` for bridges).
    public static func setTrustRoots(
        of configuration: inout TLSConfiguration, cafile: String?, capath: String?, prefix: String
    ) throws {
        var certificates: [NIOSSLCertificate] = []
        if let cafile { certificates = try certificateChain(cafile, option: "\(prefix)cafile") }
        if let capath {
            var status = stat()
            guard stat(capath, &status) == 0 else {
                throw Failure("\(prefix)capath \(capath): \(String(cString: strerror(errno)))")
            }
            guard status.st_mode & S_IFMT == S_IFDIR else { throw Failure("\(prefix)capath \(capath): not a directory") }
            // BoringSSL looks CA files up in the directory by subject hash (`openssl rehash`), as OpenSSL does.
            configuration.trustRoots = .file(capath)
            if !certificates.isEmpty { configuration.additionalTrustRoots = [.certificates(certificates)] }
        } else if cafile != nil {
            configuration.trustRoots = .certificates(certificates)
        }
    }
}
