extension EdgeConfiguration.Listener {
    /// The TLS options of one listener (mosquitto's `cafile`, `certfile`, `require_certificate`, …).
    ///
    /// A listener speaks TLS when it has a `certfile` (and, required with it, a `keyfile`);
    /// every other option here needs those two. Paths are kept as written: the broker opens
    /// the files at start-up and refuses to start, naming the file, when one is bad.
    public struct TLS: Equatable, Sendable {
        /// `tls_version`: the lowest TLS version accepted.
        public enum Version: String, Equatable, Sendable, CaseIterable {
            case tlsv1_2 = "tlsv1.2"
            case tlsv1_3 = "tlsv1.3"
        }

        /// `cafile`: PEM file of the CAs that client certificates must chain to.
        public var cafile: String?
        /// `capath`: directory of PEM CA files (named by subject hash, as `openssl rehash` makes them).
        public var capath: String?
        /// `certfile`: the server's PEM certificate chain, leaf first.
        public var certfile: String?
        /// `keyfile`: the server's PEM private key.
        public var keyfile: String?
        /// `tls_version`: the minimum version (default TLS 1.2).
        public var minimumVersion = Version.tlsv1_2
        /// `ciphers`: an OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are fixed in BoringSSL).
        public var ciphers: String?
        /// `require_certificate`: clients must present a certificate that chains to `cafile`/`capath`.
        public var requireCertificate = false
        /// `use_identity_as_username`: the client certificate's CN becomes the username.
        public var useIdentityAsUsername = false
        /// `use_subject_as_username`: the client certificate's subject (RFC 2253 string) becomes the username.
        public var useSubjectAsUsername = false
        /// `crlfile`: a PEM or DER certificate revocation list; revoked client certificates are refused.
        public var crlfile: String?

        public init() {}

        /// Whether the listener speaks TLS (it has a certificate).
        public var isEnabled: Bool { certfile != nil || keyfile != nil }

        /// Whether any TLS option is set, so that a listener with options but no certificate is refused.
        var hasAnyOption: Bool { self != TLS() }
    }
}
