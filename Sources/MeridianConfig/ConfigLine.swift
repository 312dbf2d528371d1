/// One directive line of a configuration file, split into its option name and values.
///
/// Values are read front to back with ``value(_:)``, ``integer(_:in:note:)``,
/// ``boolean()`` and friends; ``end()`` then rejects anything left over. Every reader
/// throws a ``ConfigError`` that names the file, the line and the option.
struct ConfigLine {
    let file: String
    let number: Int
    /// The first token: the option name.
    let option: String
    /// Everything after the option name, without surrounding blanks.
    private let remainder: Substring
    private var values: ArraySlice<Substring>

    /// Splits a line, or returns `nil` for a blank line or a comment (a line whose first
    /// non-blank character is `#`).
    init?(_ text: Substring, file: String, number: Int) {
        let tokens = text.split(whereSeparator: Self.isBlank)
        guard let first = tokens.first, !first.hasPrefix("#") else { return nil }
        self.file = file
        self.number = number
        self.option = String(first)
        self.values = tokens.dropFirst()
        self.remainder = Self.trimmed(text[first.endIndex...])
    }

    static func isBlank(_ character: Character) -> Bool {
        character == " " || character == "\t" || character == "\r"
    }

    private static func trimmed(_ text: Substring) -> Substring {
        let start = text.firstIndex { !isBlank($0) } ?? text.endIndex
        let end = text.lastIndex { !isBlank($0) }.map { text.index(after: $0) } ?? start
        return text[start..<end]
    }

    /// A value token that starts with `#`: mosquitto only treats `#` as a comment at the
    /// start of a line, so a trailing "comment" would be read as a value.
    ///
    /// The pattern of a bridge `topic` line is exempt: `topic # out 1` bridges every topic.
    var inlineComment: Substring? {
        values.dropFirst(option == "topic" ? 1 : 0).first { $0.hasPrefix("#") }
    }

    // MARK: - Errors

    /// An error on this line whose message starts with the option name.
    func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: number, message: "\(option): \(message)")
    }

    /// An error on this line with the message as given.
    func failure(_ message: String) -> ConfigError {
        ConfigError(file: file, line: number, message: message)
    }

    // MARK: - Reading values

    /// The next value, or an error naming `what` is missing.
    mutating func value(_ what: String = "value") throws -> Substring {
        guard let value = values.popFirst() else { throw error("missing \(what)") }
        return value
    }

    /// The next value, without reading it.
    func peekValue() -> Substring? {
        values.first
    }

    /// The next value, if there is one.
    mutating func optionalValue() -> Substring? {
        values.popFirst()
    }

    /// Throws if a value is left over.
    func end() throws {
        if let extra = values.first {
            throw error("unexpected extra value '\(extra)'")
        }
    }

    /// The rest of the line, from the next value on, as one value: paths may contain
    /// spaces, as in mosquitto.
    mutating func rest(_ what: String = "value") throws -> String {
        guard let first = values.first else { throw error("missing \(what)") }
        values = []
        return String(remainder[first.startIndex...])
    }

    /// The next value as a decimal integer within `range`.
    ///
    /// - Parameters:
    ///   - what: names the value in the "missing" message, e.g. "port".
    ///   - note: added to the out-of-range message, e.g. "0 means no limit".
    mutating func integer(_ what: String = "value", in range: ClosedRange<Int>, note: String? = nil) throws -> Int {
        let token = try value(what)
        guard let number = Int(token) else {
            let digits = token.drop { $0 == "+" || $0 == "-" }
            if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
                throw outOfRange(token, range, note)
            }
            throw error("'\(token)' is not an integer")
        }
        guard range.contains(number) else { throw outOfRange(token, range, note) }
        return number
    }

    private func outOfRange(_ token: Substring, _ range: ClosedRange<Int>, _ note: String?) -> ConfigError {
        let bounds = "\(range.lowerBound) to \(range.upperBound)"
        return error("\(token) is out of range (\(note.map { "\(bounds); \($0)" } ?? bounds))")
    }

    /// The next value as `true` or `false` (mosquitto 2.0 accepts nothing else).
    mutating func boolean() throws -> Bool {
        let token = try value()
        switch token {
        case "true": return true
        case "false": return false
        default: throw error("'\(token)' is not a boolean (expected true or false)")
        }
    }

    /// The next value as one of the names in `choices`.
    mutating func choice<Value>(_ choices: [(name: String, value: Value)]) throws -> Value {
        let token = try value()
        guard let match = choices.first(where: { $0.name == token }) else {
            let names = choices.map(\.name).joined(separator: ", ")
            throw error("'\(token)' is not one of \(names)")
        }
        return match.value
    }
}
