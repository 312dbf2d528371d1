import MeridianConfig

/// The defaults with `change` applied: the expected value of a parse.
func configuration(_ change: (inout EdgeConfiguration) -> Void = { _ in }) -> EdgeConfiguration {
    var configuration = EdgeConfiguration()
    change(&configuration)
    return configuration
}

/// Parses `text` as `edge.conf`, with `files` as the only include directory's contents.
func parse(_ text: String, files: [(path: String, text: String)] = []) throws -> EdgeConfiguration {
    try EdgeConfigParser.parse(text: text, file: "edge.conf", includeDir: { _ in files })
}

/// The `file:line: message` that parsing `text` throws, or `nil` if it parses.
func parseError(_ text: String, files: [(path: String, text: String)] = []) -> String? {
    do {
        _ = try parse(text, files: files)
        return nil
    } catch {
        return "\(error)"
    }
}
