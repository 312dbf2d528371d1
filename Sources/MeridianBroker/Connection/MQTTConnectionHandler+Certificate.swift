import MeridianMQTT

/// Certificate-bound identity: on a TLS listener with `use_identity_as_username` (or
/// `use_subject_as_username`), the verified client certificate's common name (or subject) is the
/// client's username, whatever the CONNECT packet says.
///
/// Mosquitto semantics, kept on purpose:
/// - a client without a certificate, or whose certificate has no common name, is refused with
///   "bad user name or password" (5.0: 0x86, 3.1.1: 4);
/// - the CONNECT username is replaced and its password is ignored: the certificate is the
///   credential, so no password check applies to such a client (mosquitto skips it too).
///   Authentication code must therefore skip the password file when
///   ``MQTTConnectionHandler/isCertificateAuthenticated`` is true.
extension MQTTConnectionHandler {
    /// Whether the client's username came from its verified certificate.
    var isCertificateAuthenticated: Bool {
        certificateUsernameSource != .none && certificateUsername != nil
    }

    /// Replaces the CONNECT username with the certificate's name when the listener asks for it.
    /// - Returns: false when the listener asks for a certificate name and there is none.
    func applyCertificateIdentity(to connect: inout MQTTConnect) -> Bool {
        guard certificateUsernameSource != .none else { return true }
        guard let certificateUsername else { return false }
        connect.username = certificateUsername
        connect.password = nil
        logger.notice("certificate identity", metadata: ["username": "\(certificateUsername)"])
        return true
    }
}
