/// A mistake in a password or ACL file, reported as `file:line: message` like configuration errors.
public struct SecurityFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}

/// The lines of a Mosquitto security file, numbered from 1, without their line ends and with the
/// blanks around them trimmed; blank lines and `#` comments are left out (mosquitto's rule).
func significantLines(of text: String) -> [(number: Int, text: Substring)] {
    var result: [(Int, Substring)] = []
    var text = text[...]
    if text.first == "\u{FEFF}" { text = text.dropFirst() }
    for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
        let line = raw.trimmingBlanks()
        if line.isEmpty || line.first == "#" { continue }
        result.append((index + 1, line))
    }
    return result
}

extension Substring {
    /// Without leading and trailing spaces, tabs and carriage returns.
    func trimmingBlanks() -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isBlank($0) }) else { return self[endIndex...] }
        let end = lastIndex(where: { !isBlank($0) })!
        return self[start...end]
    }
}
