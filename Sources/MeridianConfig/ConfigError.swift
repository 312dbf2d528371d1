/// A configuration mistake, located by file and 1-based line, printed as mosquitto does:
/// `edge.conf:12: unknown option 'max_queud_messages'`.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    /// The file name as given to ``EdgeConfigParser/parse(text:file:includeDir:)``, or the
    /// path of the included file the mistake is in.
    public var file: String
    /// The 1-based line number.
    public var line: Int
    /// What is wrong, usually starting with the option name.
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}
