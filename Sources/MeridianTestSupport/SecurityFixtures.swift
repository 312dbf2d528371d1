import Foundation

/// Password and ACL files for security tests, written into their own temp directory.
///
/// Password lines come from the real `mosquitto_passwd` (apt `mosquitto`), so the tests check
/// Meridian against the files operators actually have.
public final class SecurityFixtures: @unchecked Sendable {
    public let directory: URL
    public var passwordFile: URL { directory.appendingPathComponent("passwd") }
    public var aclFile: URL { directory.appendingPathComponent("acl") }

    public init() throws {
        directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-security")
    }

    deinit { cleanup() }

    /// The hash `mosquitto_passwd` writes: `sha512-pbkdf2` (`$7$`, its default) or `sha512` (`$6$`).
    public enum Hash: String, Sendable {
        case pbkdf2 = "sha512-pbkdf2"
        case sha512
    }

    /// Adds (or replaces) a user with `mosquitto_passwd -b`, creating the file on first use.
    public func addUser(_ username: String, password: String, hash: Hash = .pbkdf2) async throws {
        var arguments = ["-H", hash.rawValue, "-b"]
        if !FileManager.default.fileExists(atPath: passwordFile.path) { arguments.append("-c") }
        arguments += [passwordFile.path, username, password]
        try await ProcessRunner.run("mosquitto_passwd", arguments).requireSuccess()
    }

    /// Writes the ACL file.
    public func writeACL(_ text: String) throws {
        try Data(text.utf8).write(to: aclFile)
    }

    /// The config lines that use these files.
    public var options: [String] {
        var lines = ["allow_anonymous false", "password_file \(passwordFile.path)"]
        if FileManager.default.fileExists(atPath: aclFile.path) { lines.append("acl_file \(aclFile.path)") }
        return lines
    }

    public func cleanup() {
        if ProcessInfo.processInfo.environment["MERIDIAN_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }
}
