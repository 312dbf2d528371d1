import CNIOBoringSSL

/// Checks an OpenSSL-style cipher list (`ciphers`) before NIOSSL sees it.
///
/// NIOSSL passes `TLSConfiguration.cipherSuites` to BoringSSL and traps (a `precondition`) when
/// BoringSSL rejects it, so a typo in the configuration would crash start-up instead of naming
/// the mistake. This asks BoringSSL itself, on a throwaway context, with the strict variant that
/// also refuses lists in which a name matched nothing.
enum CipherList {
    static func isValid(_ list: String) -> Bool {
        guard let context = SSL_CTX_new(TLS_method()) else { return false }
        defer { SSL_CTX_free(context) }
        let accepted = SSL_CTX_set_strict_cipher_list(context, list) == 1
        ERR_clear_error()
        return accepted
    }
}
