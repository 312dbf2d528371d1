import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the binaries the tests launch live.
public enum TestPaths {
    /// The build products directory: the one that holds the test bundle and the
    /// package's executables (`.build/debug` under SwiftPM).
    public static var productsDirectory: URL? {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath(),
            Bundle.main.bundleURL,
            Bundle.main.executableURL,
        ].compactMap { $0 }
        for start in candidates {
            var directory = start
            for _ in 0..<6 {
                if isExecutable(directory.appendingPathComponent("meridian-edge").path) { return directory }
                directory.deleteLastPathComponent()
            }
        }
        return nil
    }

    /// `meridian-edge`: `MERIDIAN_EDGE_BINARY` if set, else the one next to the test bundle.
    public static func meridianEdge() throws -> String {
        if let override = ProcessInfo.processInfo.environment["MERIDIAN_EDGE_BINARY"], !override.isEmpty {
            guard isExecutable(override) else { throw TestSetupError("MERIDIAN_EDGE_BINARY=\(override) is not executable") }
            return override
        }
        guard let directory = productsDirectory else {
            throw TestSetupError("meridian-edge not found near \(CommandLine.arguments[0]); build it or set MERIDIAN_EDGE_BINARY")
        }
        return directory.appendingPathComponent("meridian-edge").path
    }

    /// `meridian-region`, next to `meridian-edge`.
    public static func meridianRegion() throws -> String {
        let edge = URL(fileURLWithPath: try meridianEdge())
        return edge.deletingLastPathComponent().appendingPathComponent("meridian-region").path
    }

    /// Looks `name` up in `PATH` (and the usual system directories).
    public static func executable(_ name: String) throws -> String {
        if name.contains("/") { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        for directory in directories where isExecutable("\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        throw TestSetupError("\(name) not found in PATH (\(path))")
    }

    /// A new, empty directory under the system temp directory; the caller removes it.
    public static func makeTemporaryDirectory(prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Makes `directory` and the files in it readable by every user: `mosquitto`, started as
    /// root, reads its configuration's files as its own user.
    public static func makeReadableByAll(_ directory: URL) {
        chmod(directory.path, 0o755)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
            chmod(directory.appendingPathComponent(name).path, 0o644)
        }
    }

    static func isExecutable(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            && !isDirectory.boolValue && FileManager.default.isExecutableFile(atPath: path)
    }
}

/// The test environment is missing something (a binary, a file).
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
