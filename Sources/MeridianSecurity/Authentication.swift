/// The CONNECT-time decision: may a client with this username and password connect?
///
/// Mosquitto's rules: without a username, only `allow_anonymous true` lets a client in (a
/// password file does not change that); with a username and a password file, the password must
/// match the user's hash; with a username and no password file, any username is accepted.
public enum Authentication {
    public enum Outcome: Equatable, Sendable {
        case accepted
        case refused(Failure)
    }

    public enum Failure: String, Equatable, Sendable {
        /// No username, and `allow_anonymous false`.
        case anonymous
        /// The username is not in the password file.
        case unknownUser = "unknown user"
        /// The password is missing or does not match.
        case badPassword = "bad password"
    }

    public static func check(
        username: String?, password: [UInt8]?, allowAnonymous: Bool, passwords: PasswordFile?
    ) -> Outcome {
        guard let username else { return allowAnonymous ? .accepted : .refused(.anonymous) }
        guard let passwords else { return .accepted }
        return passwords.check(username: username, password: password)
    }
}
