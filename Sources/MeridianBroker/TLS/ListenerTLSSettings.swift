/// The TLS side of a listener: files and options as the configuration names them.
///
/// The files are read once, by ``ServerTLS/load(_:)``, before the listener binds.
public struct ListenerTLSSettings: Sendable, Equatable {
    /// What becomes a client's username once its certificate is verified.
    public enum CertificateUsername: Sendable, Equatable {
        /// The CONNECT packet's username, as on a plain listener.
        case none
        /// `use_identity_as_username`: the certificate subject's common name.
        case commonName
        /// `use_subject_as_username`: the whole subject, RFC 2253 style (`CN=a,O=b,C=DE`).
        case subject
    }

    /// The lowest TLS version accepted.
    public enum MinimumVersion: Sendable, Equatable {
        case tls12
        case tls13
    }

    public var certfile: String
    public var keyfile: String
    public var cafile: String?
    public var capath: String?
    public var minimumVersion: MinimumVersion
    /// An OpenSSL cipher list for TLS 1.2; `nil` keeps NIOSSL's defaults.
    public var ciphers: String?
    public var requireCertificate: Bool
    public var certificateUsername: CertificateUsername
    public var crlfile: String?

    public init(
        certfile: String, keyfile: String, cafile: String? = nil, capath: String? = nil,
        minimumVersion: MinimumVersion = .tls12, ciphers: String? = nil, requireCertificate: Bool = false,
        certificateUsername: CertificateUsername = .none, crlfile: String? = nil
    ) {
        self.certfile = certfile
        self.keyfile = keyfile
        self.cafile = cafile
        self.capath = capath
        self.minimumVersion = minimumVersion
        self.ciphers = ciphers
        self.requireCertificate = requireCertificate
        self.certificateUsername = certificateUsername
        self.crlfile = crlfile
    }
}
