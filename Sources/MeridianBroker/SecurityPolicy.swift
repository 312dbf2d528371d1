import MeridianStore
import MeridianSecurity

/// Who may connect and what they may do: the part of the configuration a SIGHUP reloads
/// (`allow_anonymous`, `password_file`, `acl_file`), already read and parsed.
public struct SecurityPolicy: Sendable, Equatable {
    /// Whether clients without a username may connect.
    public var allowAnonymous: Bool
    /// The password file; nil = any username is accepted.
    public var passwords: PasswordFile?
    /// The ACL; nil = no access control (every client may use every topic).
    public var acl: AccessControlList?

    /// The default is open (anonymous clients, no files) for embedding and in-process tests; the
    /// executable builds its policy from the configuration, whose default refuses anonymous clients.
    public init(allowAnonymous: Bool = true, passwords: PasswordFile? = nil, acl: AccessControlList? = nil) {
        self.allowAnonymous = allowAnonymous
        self.passwords = passwords
        self.acl = acl
    }
}

extension SecurityPolicy {
    /// The authentication decision's view of a listener under this policy.
    public func authenticationListener(
        requireCertificate: Bool, certificateUsername: ListenerTLSSettings.CertificateUsername
    ) -> Authentication.Listener {
        Authentication.Listener(
            allowAnonymous: allowAnonymous, passwords: passwords, requireCertificate: requireCertificate,
            certificateIdentity: certificateUsername != .none)
    }
}

/// Whose rights a session has, so that an ACL reload can rebuild them.
enum SessionIdentity: Sendable, Equatable {
    /// An in-process client of the broker itself (a bridge's local side): not subject to the ACL.
    case trusted
    /// A network client, with the username authentication and the ACL use.
    case client(username: String?)
    /// A session restored from a store written before identities were stored (schema version 1),
    /// whose client has not reconnected yet: with an ACL it may receive nothing until it does.
    case unknown

    /// Whether a client connecting as `newcomer` may attach to (resume, take over or clean-start)
    /// a session with this identity: a session belongs to the username that created it (I8).
    /// The broker's own clients may take any; a session of unknown owner (restored from a
    /// schema 1 store) goes to whoever claims it first, its backlog still checked against that
    /// client's rights when sent.
    func admits(_ newcomer: SessionIdentity, allowCrossUser: Bool) -> Bool {
        switch (self, newcomer) {
        case (_, .trusted), (.unknown, _): return true
        case (.trusted, _): return false
        case (.client(let owner), .client(let username)): return owner == username || allowCrossUser
        case (.client, .unknown): return false
        }
    }

    /// The identity as the store keeps it (nil: unknown).
    var stored: StoredSessionIdentity? {
        switch self {
        case .trusted: return .trusted
        case .client(let username): return .client(username: username)
        case .unknown: return nil
        }
    }

    init(stored: StoredSessionIdentity?) {
        switch stored {
        case .trusted: self = .trusted
        case .client(let username): self = .client(username: username)
        case nil: self = .unknown
        }
    }

    /// The session's decisions under `acl` (nil = everything allowed).
    func access(under acl: AccessControlList?, clientIdentifier: String) -> CachedClientAccess? {
        guard let acl else { return nil }
        switch self {
        case .trusted:
            return nil
        case .client(let username):
            return CachedClientAccess(ClientAccess(acl: acl, username: username, clientIdentifier: clientIdentifier))
        case .unknown:
            return CachedClientAccess(ClientAccess(acl: AccessControlList(), username: nil, clientIdentifier: clientIdentifier))
        }
    }
}
