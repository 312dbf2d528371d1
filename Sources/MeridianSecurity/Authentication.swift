import MeridianMQTT

/// The CONNECT-time decision, in one pure function: the listener's settings and what the client
/// presented in; the client's credential, or the reason it is refused, out. The README's
/// "Security" table is this function, row by row, with the unit test of every row.
///
/// The rules are Mosquitto 2.0's (measured against 2.0.11 on the same files), deny by default:
/// 1. On a listener with `use_identity_as_username` or `use_subject_as_username`, the verified
///    certificate's name is the username and the certificate the credential: the CONNECT username
///    and password are ignored, and a client without such a name is refused.
/// 2. Without a username, only `allow_anonymous true` lets a client in.
/// 3. With a username and a `password_file`, the password must match the user's hash.
/// 4. With a username and no `password_file`: `allow_anonymous true` lets it in with the username
///    as a claim (nothing verified it); otherwise nothing on the listener can verify anyone, and
///    the client is refused.
///
/// `require_certificate` is enforced by the TLS handshake (a client without a verified certificate
/// never reaches CONNECT); the decision refuses such a client again, should one get this far.
public enum Authentication {
    /// What a listener can verify, from the configuration.
    public struct Listener: Sendable, Equatable {
        /// `allow_anonymous` (Meridian's default, like Mosquitto 2.0's, is false).
        public var allowAnonymous: Bool
        /// `password_file`, read and parsed; nil without one.
        public var passwords: PasswordFile?
        /// `require_certificate` on a TLS listener.
        public var requireCertificate: Bool
        /// `use_identity_as_username` or `use_subject_as_username` on a TLS listener.
        public var certificateIdentity: Bool

        public init(allowAnonymous: Bool, passwords: PasswordFile?, requireCertificate: Bool = false, certificateIdentity: Bool = false) {
            self.allowAnonymous = allowAnonymous
            self.passwords = passwords
            self.requireCertificate = requireCertificate
            self.certificateIdentity = certificateIdentity
        }

        /// Whether any client at all can get in (start-up warns about a listener that admits
        /// nobody): false for `allow_anonymous false` with neither a password file nor a
        /// certificate identity, and for a certificate identity without `require_certificate`
        /// (the TLS layer then asks for no certificate, so no client has a name).
        public var admitsAnyone: Bool {
            certificateIdentity ? requireCertificate : allowAnonymous || passwords != nil
        }
    }

    /// What the client presented.
    public struct Presented: Sendable, Equatable {
        public var username: String?
        public var password: [UInt8]?
        /// Whether the TLS handshake verified a client certificate.
        public var hasCertificate: Bool
        /// The name the listener's identity option takes from that certificate (its CN, or its
        /// subject); nil without a certificate, without such an option, or when the name is unusable.
        public var certificateName: String?

        public init(username: String?, password: [UInt8]?, hasCertificate: Bool = false, certificateName: String? = nil) {
            self.username = username
            self.password = password
            self.hasCertificate = hasCertificate
            self.certificateName = certificateName
        }
    }

    /// How an accepted client was let in; kept with the connection so that a reload can tell
    /// whether the client would still get in (``stillAdmitted(_:under:)``).
    public enum Credential: Sendable, Equatable {
        /// No username, under `allow_anonymous true`.
        case anonymous
        /// A username whose password matched this entry of the password file.
        case password(username: String, entry: PasswordHash)
        /// The certificate's name, under `use_identity_as_username` / `use_subject_as_username`.
        case certificate(username: String)
        /// A username nothing verified: `allow_anonymous true` without a password file.
        case claimed(username: String)

        /// The username the ACL (`%u`) and session ownership use.
        public var username: String? {
            switch self {
            case .anonymous: return nil
            case .password(let username, _), .certificate(let username), .claimed(let username): return username
            }
        }
    }

    public enum Refusal: String, Error, Equatable, Sendable, CaseIterable {
        /// No username, and `allow_anonymous false`.
        case anonymous
        /// `allow_anonymous false` and no password file: nothing can verify a username.
        case noVerifier = "no password file"
        /// The username is not in the password file.
        case unknownUser = "unknown user"
        /// The password is missing or does not match.
        case badPassword = "bad password"
        /// `require_certificate` and no verified certificate.
        case noCertificate = "no client certificate"
        /// A certificate identity listener, and no usable name in a verified certificate.
        case noCertificateName = "no certificate name"

        /// The CONNACK code: MQTT 5 reason codes, or 3.1.1 return codes.
        ///
        /// Wrong passwords and unknown users get 0x86 Bad User Name or Password in MQTT 5, where
        /// Mosquitto 2.0.11 answers 0x87 Not authorized: the more specific code, on purpose.
        public func connackCode(for version: MQTTProtocolVersion) -> MQTTReasonCode {
            let v5 = version == .v5
            switch self {
            case .anonymous, .noVerifier, .noCertificate: return v5 ? .notAuthorized : .v3NotAuthorized
            case .unknownUser, .badPassword: return v5 ? .badUserNameOrPassword : .v3NotAuthorized
            case .noCertificateName: return v5 ? .badUserNameOrPassword : .v3BadUserNameOrPassword
            }
        }
    }

    public enum Verdict: Sendable, Equatable {
        case accepted(Credential)
        case refused(Refusal)
    }

    /// The decision for one CONNECT.
    public static func decide(_ listener: Listener, _ presented: Presented) -> Verdict {
        if listener.requireCertificate && !presented.hasCertificate { return .refused(.noCertificate) }
        if listener.certificateIdentity {
            guard presented.hasCertificate, let name = presented.certificateName else { return .refused(.noCertificateName) }
            return .accepted(.certificate(username: name))
        }
        guard let username = presented.username else {
            return listener.allowAnonymous ? .accepted(.anonymous) : .refused(.anonymous)
        }
        guard let passwords = listener.passwords else {
            return listener.allowAnonymous ? .accepted(.claimed(username: username)) : .refused(.noVerifier)
        }
        switch passwords.check(username: username, password: presented.password) {
        case .success(let entry): return .accepted(.password(username: username, entry: entry))
        case .failure(let refusal): return .refused(refusal)
        }
    }

    /// Whether a client let in with `credential` would still be let in under a reloaded policy,
    /// without its password (which is not kept): a password client stays while its entry in the
    /// file is unchanged; a changed or removed entry, or a policy that no longer admits its kind
    /// of credential, disconnects it (Mosquitto disconnects such clients on reload too).
    public static func stillAdmitted(_ credential: Credential, under listener: Listener) -> Bool {
        switch credential {
        case .anonymous:
            return listener.allowAnonymous && !listener.certificateIdentity
        case .password(let username, let entry):
            return !listener.certificateIdentity && listener.passwords?.entries[username] == entry
        case .certificate:
            return listener.certificateIdentity
        case .claimed:
            // A password file now in force would have to check a password that is not kept.
            return !listener.certificateIdentity && listener.allowAnonymous && listener.passwords == nil
        }
    }
}
