extension Directive {
    /// TLS options of a listener, with mosquitto's names and grammar.
    static let listenerTLS: [Directive] = [
        .listener("cafile") { $0.tls.cafile = try $1.rest("file") },
        .listener("capath") { $0.tls.capath = try $1.rest("directory") },
        .listener("certfile") { $0.tls.certfile = try $1.rest("file") },
        .listener("keyfile") { $0.tls.keyfile = try $1.rest("file") },
        .listener("crlfile") { $0.tls.crlfile = try $1.rest("file") },
        .listener("tls_version") { listener, line in
            if line.peekValue() == "tlsv1.1" || line.peekValue() == "tlsv1" {
                throw line.error("\(line.peekValue()!) is not supported (use tlsv1.2 or tlsv1.3)")
            }
            let versions = EdgeConfiguration.Listener.TLS.Version.allCases
            listener.tls.minimumVersion = try line.choice(versions.map { ($0.rawValue, $0) })
        },
        .listener("ciphers") { $0.tls.ciphers = String(try $1.value("cipher list")) },
        .listener("require_certificate") { $0.tls.requireCertificate = try $1.boolean() },
        .listener("use_identity_as_username") { $0.tls.useIdentityAsUsername = try $1.boolean() },
        .listener("use_subject_as_username") { $0.tls.useSubjectAsUsername = try $1.boolean() },
    ]
}

extension ParserState {
    /// Checks what only a listener's whole set of TLS options can tell; errors point at its
    /// `listener` line.
    func checkListenerTLS() throws {
        for (index, listener) in configuration.listeners.enumerated() {
            let tls = listener.tls
            guard tls.hasAnyOption else { continue }
            let origin = listenerOrigins[index]
            func failure(_ message: String) -> ConfigError {
                let split = origin.lastIndex(of: ":")
                let file = split.map { String(origin[..<$0]) } ?? origin
                let line = split.flatMap { Int(origin[origin.index(after: $0)...]) } ?? 0
                return ConfigError(file: file, line: line, message: "listener \(listener.port): \(message)")
            }
            if tls.certfile == nil || tls.keyfile == nil {
                let missing = tls.certfile == nil ? "certfile" : "keyfile"
                throw failure("TLS options need both certfile and keyfile (\(missing) is missing)")
            }
            if tls.requireCertificate && tls.cafile == nil && tls.capath == nil {
                throw failure("require_certificate true needs cafile or capath to verify client certificates")
            }
            if tls.useIdentityAsUsername && tls.useSubjectAsUsername {
                throw failure("use_identity_as_username and use_subject_as_username cannot both be true")
            }
        }
    }
}
