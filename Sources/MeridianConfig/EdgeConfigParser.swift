/// Reads mosquitto-style configuration text into an ``EdgeConfiguration``.
///
/// The format is mosquitto's: one option per line, its values separated by spaces or
/// tabs; blank lines and lines starting with `#` (after optional blanks) are skipped.
/// Paths (`persistence_location`, `log_dest file`, `include_dir`, `password_file`, `acl_file`) and
/// `clientid_prefixes` take the rest of the line. Any other mistake (an unknown option,
/// a missing, extra or malformed value, an option Meridian does not support yet) stops
/// parsing with a ``ConfigError`` that names the file and line.
///
/// The module does no file I/O: the caller reads the main file and, through
/// `includeDir`, the directories named by `include_dir`.
public enum EdgeConfigParser {
    /// The files of an `include_dir` directory, as (path, text) pairs.
    public typealias IncludeDirectoryReader = (String) throws -> [(path: String, text: String)]

    /// Parses `text` as the file named `file`.
    ///
    /// - Parameters:
    ///   - text: the contents of the main configuration file.
    ///   - file: the file's name, used in error messages.
    ///   - includeDir: returns the `.conf` files of the directory an `include_dir` line
    ///     names, as (path, text) pairs sorted by name (mosquitto's order); it may throw.
    ///     Each file is parsed at the point of its `include_dir` line, with its own path
    ///     in errors. As in mosquitto, `include_dir` is only valid in the main file, and
    ///     an included file starts with no current listener.
    /// - Returns: the configuration, with defaults for every option the text leaves out.
    /// - Throws: ``ConfigError`` for the first mistake found.
    public static func parse(
        text: String,
        file: String,
        includeDir: IncludeDirectoryReader = { _ in [] }
    ) throws -> EdgeConfiguration {
        var state = ParserState()
        try read(text, file: file, isMainFile: true, into: &state, includeDir: includeDir)
        try state.checkListenerTLS()
        return state.configuration
    }

    private static func read(
        _ text: String,
        file: String,
        isMainFile: Bool,
        into state: inout ParserState,
        includeDir: IncludeDirectoryReader
    ) throws {
        for (index, text) in lines(of: text).enumerated() {
            guard var line = ConfigLine(text, file: file, number: index + 1) else { continue }
            if let message = Directive.rejection(of: line.option) {
                throw line.failure(message)
            }
            guard let directive = Directive.table[line.option] else {
                throw line.failure("unknown option '\(line.option)'")
            }
            if line.inlineComment != nil {
                throw line.error(
                    "a comment must be on a line of its own ('#' starts a comment only at the start of a line)"
                )
            }
            switch directive.action {
            case .global(let apply):
                try apply(&state, &line)
            case .listener(let apply):
                guard let index = state.currentListener else {
                    throw line.error("must follow a 'listener' line (listener options apply to the latest listener)")
                }
                try apply(&state.configuration.listeners[index], &line)
            case .bridge(let key, let repeatable, let apply):
                try state.applyToBridge(&line, key: key, repeatable: repeatable, apply)
            case .includeDirectory:
                guard isMainFile else { throw line.error("only allowed in the main configuration file") }
                let directory = try line.rest("directory")
                let files: [(path: String, text: String)]
                do {
                    files = try includeDir(directory)
                } catch let error as ConfigError {
                    throw error
                } catch {
                    throw line.error("cannot read '\(directory)': \(error)")
                }
                let (currentListener, currentBridge) = (state.currentListener, state.currentBridge)
                for included in files {
                    state.currentListener = nil
                    state.currentBridge = nil
                    try read(
                        included.text, file: included.path, isMainFile: false, into: &state, includeDir: includeDir
                    )
                }
                (state.currentListener, state.currentBridge) = (currentListener, currentBridge)
            }
            try line.end()
        }
        // A bridge block ends with its file.
        try state.endBridge()
    }

    /// The lines of `text`, split at LF or CRLF, without a leading byte order mark.
    static func lines(of text: String) -> [Substring] {
        var text = text[...]
        if text.first == "\u{FEFF}" { text = text.dropFirst() }
        return text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    }
}
