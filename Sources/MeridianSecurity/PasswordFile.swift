/// A Mosquitto password file: one `username:hash` line per user, as `mosquitto_passwd` writes it.
///
/// Blank lines and lines starting with `#` are skipped. Every other line must hold a `$6$` or
/// `$7$` hash (see ``PasswordHash``); a plain-text password, which mosquitto would need
/// `mosquitto_passwd -U` for anyway, is an error naming the line, so that a file is never half
/// read. No file I/O: the caller passes the text in.
public struct PasswordFile: Equatable, Sendable {
    public private(set) var entries: [String: PasswordHash]

    public init(entries: [String: PasswordHash] = [:]) {
        self.entries = entries
    }

    /// A hash no password matches, with mosquitto_passwd's default cost (101 PBKDF2 iterations).
    private static let decoy = PasswordHash.pbkdf2SHA512(
        iterations: 101, salt: Array(repeating: 0, count: 12), hash: Array(repeating: 0, count: 64))

    /// Parses `text`, naming `file` in errors.
    public static func parse(text: String, file: String) throws -> PasswordFile {
        var entries: [String: PasswordHash] = [:]
        for (number, line) in significantLines(of: text) {
            func failure(_ message: String) -> SecurityFileError {
                SecurityFileError(file: file, line: number, message: message)
            }
            guard let colon = line.firstIndex(of: ":") else {
                throw failure("expected 'username:hash'")
            }
            let username = String(line[..<colon])
            guard !username.isEmpty else { throw failure("empty username") }
            switch PasswordHash.parse(line[line.index(after: colon)...]) {
            case .success(let hash):
                // As in mosquitto, a later line for the same user wins.
                entries[username] = hash
            case .failure(let error):
                throw failure("user '\(username)': \(error)")
            }
        }
        return PasswordFile(entries: entries)
    }

    /// Checks a username and password against the file.
    /// - Returns: the user's entry when the password matches it.
    public func check(username: String, password: [UInt8]?) -> Result<PasswordHash, Authentication.Refusal> {
        guard let hash = entries[username] else {
            // Spend what a real check costs, so that timing does not tell which usernames exist.
            _ = Self.decoy.verify(password ?? [])
            return .failure(.unknownUser)
        }
        guard let password, hash.verify(password) else { return .failure(.badPassword) }
        return .success(hash)
    }
}
