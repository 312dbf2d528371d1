import Foundation
import MeridianSecurity
import Testing

/// Lines written by mosquitto_passwd 2.0.11 (`-c -b pw alice secret1`, `-H sha512 -b pw bob secret2`).
private let mosquittoPasswdFile = """
    alice:$7$101$E0EvT4BdYjznlKVQ$3eQzOjICLfL9Zbno8vdVnASzr8fxZtILCtoquo0lMSB7xsk3oMdNWxHRJG/19KPrXn3OJKXGtgc1bT898OuJqg==
    # a comment, and a blank line

    bob:$6$Pkt0Sdwxal2XQoLJ$XHi28phsWIQvuAU+fbc5JuHXTC5wvrKbfQH8+sk3J5kAK9QzWGBz/XfRfjuHq5Q2nV/7+daG0yO/TWI/WEbYVw==
    """

@Suite("Password files")
struct PasswordFileTests {
    @Test("$7$ (PBKDF2-SHA512) and $6$ (SHA-512) lines of mosquitto_passwd verify their passwords only")
    func mosquittoPasswdVectors() throws {
        let file = try PasswordFile.parse(text: mosquittoPasswdFile, file: "pw")
        #expect(file.entries.count == 2)
        #expect(file.check(username: "alice", password: Array("secret1".utf8)).isAccepted)
        #expect(file.check(username: "alice", password: Array("secret2".utf8)) == .failure(.badPassword))
        #expect(file.check(username: "alice", password: nil) == .failure(.badPassword))
        #expect(file.check(username: "bob", password: Array("secret2".utf8)).isAccepted)
        #expect(file.check(username: "bob", password: Array("Secret2".utf8)) == .failure(.badPassword))
        #expect(file.check(username: "carol", password: Array("secret1".utf8)) == .failure(.unknownUser))
        if case .pbkdf2SHA512(let iterations, let salt, let hash) = file.entries["alice"] {
            #expect(iterations == 101 && salt.count == 12 && hash.count == 64)
        } else {
            Issue.record("alice is not a $7$ entry")
        }
    }

    @Test("CRLF line ends and a byte order mark are read")
    func lineEnds() throws {
        let text = "\u{FEFF}" + mosquittoPasswdFile.replacingOccurrences(of: "\n", with: "\r\n")
        let file = try PasswordFile.parse(text: text, file: "pw")
        #expect(file.check(username: "bob", password: Array("secret2".utf8)).isAccepted)
    }

    @Test(
        "malformed lines are errors with file and line",
        arguments: [
            ("alice", "pw:1: expected 'username:hash'"),
            (":$6$AAAA$AAAA", "pw:1: empty username"),
            ("alice:secret", "pw:1: user 'alice': not a $6$ or $7$ hash as mosquitto_passwd writes (plain-text passwords are not read)"),
            ("alice:$6$!!$AAAA", "pw:1: user 'alice': salt or hash is not valid base64"),
            ("alice:$6$AAAA$AAAA", "pw:1: user 'alice': hash is not 64 bytes (SHA-512)"),
            ("alice:$7$0$AAAA$AAAA", "pw:1: user 'alice': iteration count must be 1...1000000"),
            (
                "alice:$5$AAAA$AAAA",
                "pw:1: user 'alice': not a $6$ or $7$ hash as mosquitto_passwd writes (plain-text passwords are not read)"
            ),
        ]
    )
    func malformed(line: String, message: String) {
        #expect(throws: SecurityFileError.self) { try PasswordFile.parse(text: line, file: "pw") }
        do {
            _ = try PasswordFile.parse(text: line, file: "pw")
        } catch {
            #expect("\(error)" == message)
        }
    }
}

extension Result {
    var isAccepted: Bool {
        if case .success = self { return true }
        return false
    }
}
