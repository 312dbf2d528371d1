import MeridianMQTT

extension AccessControlList {
    /// Parses an ACL file in Mosquitto's syntax, naming `file` in errors.
    ///
    /// - `user <username>`: the following `topic` lines are that user's (the username is the rest
    ///   of the line, so it may contain spaces, as in mosquitto);
    /// - `topic [read|write|readwrite|deny] <topic>`: without an access word, `readwrite`;
    /// - `pattern [read|write|readwrite|deny] <topic>`: for every client, `%c` and `%u` replaced by
    ///   its client id and username;
    /// - blank lines and lines starting with `#` are skipped.
    ///
    /// The topic is the rest of the line and must be a valid topic filter (`%c`/`%u` allowed).
    /// Unlike mosquitto, which skips an unknown line with a warning, any other line is an error:
    /// a typo in an ACL must not silently remove a rule.
    public static func parse(text: String, file: String) throws -> AccessControlList {
        var acl = AccessControlList()
        var currentUser: String?
        for (number, line) in significantLines(of: text) {
            func failure(_ message: String) -> SecurityFileError {
                SecurityFileError(file: file, line: number, message: message)
            }
            let keywordEnd = line.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? line.endIndex
            let keyword = line[..<keywordEnd]
            let rest = line[keywordEnd...].trimmingBlanks()
            switch keyword {
            case "user":
                guard !rest.isEmpty else { throw failure("user: missing username") }
                currentUser = String(rest)
                if acl.userRules[String(rest)] == nil { acl.userRules[String(rest)] = [] }
            case "topic", "pattern":
                let rule = try parseRule(rest, failure: { failure("\(keyword): \($0)") })
                if keyword == "pattern" {
                    acl.patterns.append(rule)
                } else if let currentUser {
                    acl.userRules[currentUser, default: []].append(rule)
                } else {
                    acl.anonymousRules.append(rule)
                }
            default:
                throw failure("unknown line '\(keyword)' (expected user, topic or pattern)")
            }
        }
        return acl
    }

    private static func parseRule(_ text: Substring, failure: (String) -> SecurityFileError) throws -> Rule {
        var access = Access.readwrite
        var topic = text
        let wordEnd = text.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? text.endIndex
        if let given = Access(rawValue: String(text[..<wordEnd])) {
            access = given
            topic = text[wordEnd...].trimmingBlanks()
        }
        guard !topic.isEmpty else { throw failure("missing topic") }
        guard MQTTTopic.isValidFilter(String(topic)) else { throw failure("'\(topic)' is not a valid topic filter") }
        return Rule(access, String(topic))
    }
}
