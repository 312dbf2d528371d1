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

    /// Metadata for the start-up and reload log lines.
    static func summary(_ policy: SecurityPolicy) -> String {
        let users = policy.passwords.map { "\($0.entries.count) users" } ?? "no password file"
        let acl = policy.acl.map { "ACL with \($0.userRules.count) users, \($0.patterns.count) patterns" } ?? "no ACL"
        return "anonymous \(policy.allowAnonymous ? "allowed" : "refused"), \(users), \(acl)"
    }
}
