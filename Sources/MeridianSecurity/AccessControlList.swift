/// A Mosquitto ACL file (`acl_file`), read into its three parts.
///
/// ```
/// # Before any `user` line: rules for clients without a username.
/// topic read $SYS/#
/// user gateway-admin
/// topic readwrite #
/// # Patterns apply to every client; %c is its client id, %u its username.
/// pattern readwrite devices/%u/#
/// ```
///
/// Decisions follow mosquitto's default ACL check; see ``ClientAccess``.
public struct AccessControlList: Equatable, Sendable {
    /// What a rule grants. `deny` grants nothing and wins over every grant of its part.
    public enum Access: String, Equatable, Sendable, CaseIterable {
        case read, write, readwrite, deny

        func grants(_ operation: Operation) -> Bool {
            switch (self, operation) {
            case (.readwrite, _), (.read, .read), (.write, .write): return true
            default: return false
            }
        }
    }

    /// What a client wants to do with a topic: receive it (also: subscribe) or publish to it.
    public enum Operation: Sendable {
        case read, write
    }

    public struct Rule: Equatable, Sendable {
        public var access: Access
        /// A topic filter; for patterns it may hold `%c` and `%u`.
        public var topic: String

        public init(_ access: Access, _ topic: String) {
            self.access = access
            self.topic = topic
        }
    }

    /// `topic` lines before the first `user` line: the rules of clients without a username.
    public var anonymousRules: [Rule]
    /// `topic` lines after `user <name>`, by username.
    public var userRules: [String: [Rule]]
    /// `pattern` lines, wherever they are in the file: they apply to every client.
    public var patterns: [Rule]

    public init(anonymousRules: [Rule] = [], userRules: [String: [Rule]] = [:], patterns: [Rule] = []) {
        self.anonymousRules = anonymousRules
        self.userRules = userRules
        self.patterns = patterns
    }
}
