import Foundation
import Testing

@testable import MeridianConfig

/// `edge/meridian-edge.conf`, the file `meridian-edge --config` is pointed at.
@Suite("edge/meridian-edge.conf")
struct ExampleConfigurationTests {
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // MeridianConfigTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository
        .appendingPathComponent("edge/meridian-edge.conf").path

    static func text() throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    /// `#option ...` lines: the options the file shows, commented out.
    static func commentedOptions(in text: String) -> [(line: Substring, option: String, hasValue: Bool)] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("#") else { return nil }
            // "#option value", not "# prose": the option name follows the '#' directly.
            let option = String(line.dropFirst().prefix { $0 != " " })
            guard Directive.table[option] != nil else { return nil }
            return (line, option, line.dropFirst().contains(" "))
        }
    }

    @Test("it parses, with one listener, anonymous clients refused, a password file and the store on")
    func parses() throws {
        let parsed = try EdgeConfigParser.parse(text: Self.text(), file: "meridian-edge.conf")
        let expected = configuration {
            $0.listeners = [Listener(port: 1883)]
            $0.allowAnonymous = false
            $0.passwordFile = "data/passwd"
            $0.sysInterval = 10
            $0.persistence = true
            $0.persistenceLocation = "data/"
            $0.httpListener = .init(port: 9883, bindAddress: "127.0.0.1")
        }
        #expect(parsed == expected)
    }

    @Test("the commented-out values are the defaults")
    func commentedValuesAreDefaults() throws {
        let text = try Self.text()
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            Self.commentedOptions(in: String(line)).first.map { $0.hasValue ? line.dropFirst() : line } ?? line
        }.joined(separator: "\n")
        #expect(uncommented != text)
        let original = try EdgeConfigParser.parse(text: text, file: "meridian-edge.conf")
        #expect(try EdgeConfigParser.parse(text: uncommented, file: "meridian-edge.conf") == original)
    }

    @Test("every option Meridian reads is shown")
    func everyOptionShown() throws {
        let text = try Self.text()
        let active = Set(text.split(separator: "\n").compactMap { ConfigLine($0, file: "", number: 0)?.option })
        let commented = Set(Self.commentedOptions(in: text).map(\.option))
        // `port` is deprecated: the file mentions it in prose only.
        // Bridge options are shown in bridge.conf.example (see BridgeExampleTests).
        let bridgeOptions = Set(Directive.bridges.map(\.name))
        let missing = Set(Directive.table.keys).subtracting(active).subtracting(commented).subtracting(["port"])
            .subtracting(bridgeOptions)
        #expect(missing.isEmpty, "not in edge/meridian-edge.conf: \(missing.sorted())")
    }
}
