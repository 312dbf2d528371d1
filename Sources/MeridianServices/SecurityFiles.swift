import MeridianBroker
import MeridianConfig
import MeridianSecurity

/// Reads the files named by `password_file` and `acl_file` into the broker's security policy:
/// the I/O side of `MeridianSecurity`, at start-up and on SIGHUP.
enum SecurityFiles {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func policy(for configuration: EdgeConfiguration) throws -> SecurityPolicy {
        var policy = SecurityPolicy(allowAnonymous: configuration.allowAnonymous)
        if let path = configuration.passwordFile {
            let text = try read(path, option: "password_file", hint: "create it with: mosquitto_passwd -c \(path) USERNAME")
            policy.passwords = try PasswordFile.parse(text: text, file: path)
        }
        if let path = configuration.aclFile {
            let text = try read(path, option: "acl_file", hint: nil)
            policy.acl = try AccessControlList.parse(text: text, file: path)
        }
        return policy
    }

    private static func read(_ path: String, option: String, hint: String?) throws -> String {
        do {
            return try FileReading.readText(path)
        } catch {
            throw Failure(description: "\(option): \(error)" + (hint.map { " (\($0))" } ?? ""))
        }
    }

    /// One warning per listener that no client can get into (deny by default, I8): `allow_anonymous
    /// false` with neither a password file nor a certificate identity, or a certificate identity
    /// without `require_certificate`. Said once, at start-up and after a reload.
    static func listenersAdmittingNobody(_ listeners: [ListenerSettings], policy: SecurityPolicy) -> [String] {
        listeners.compactMap { listener in
            let decision = policy.authenticationListener(
                requireCertificate: listener.tls?.requireCertificate ?? false,
                certificateUsername: listener.tls?.certificateUsername ?? .none)
            guard !decision.admitsAnyone else { return nil }
            let fix = decision.certificateIdentity
                ? "add require_certificate true (and cafile) so that clients present a certificate"
                : "add password_file (mosquitto_passwd -c FILE USER), use_identity_as_username with require_certificate on a TLS listener, or allow_anonymous true"
            return "listener \(listener.host):\(listener.port) accepts no client: every CONNECT is refused; \(fix)"
        }
    }

    /// Metadata for the start-up and reload log lines.
    static func summary(_ policy: SecurityPolicy) -> String {
        let users = policy.passwords.map { "\($0.entries.count) users" } ?? "no password file"
        let acl = policy.acl.map { "ACL with \($0.userRules.count) users, \($0.patterns.count) patterns" } ?? "no ACL"
        return "anonymous \(policy.allowAnonymous ? "allowed" : "refused"), \(users), \(acl)"
    }
}
