#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small file helpers on libc, so the edge binary needs no Foundation.
enum FileReading {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func readText(_ path: String) throws -> String {
        guard let file = fopen(path, "rb") else {
            throw Failure(description: "\(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count { break }
        }
        if ferror(file) != 0 { throw Failure(description: "\(path): read error") }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The `.conf` files of `directory`, sorted by name, as Mosquitto's `include_dir` reads them.
    static func confFiles(in directory: String) throws -> [(path: String, text: String)] {
        guard let dir = opendir(directory) else {
            throw Failure(description: "include_dir \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name.hasSuffix(".conf") && !name.hasPrefix(".") { names.append(name) }
        }
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        return try names.sorted().map { (base + $0, try readText(base + $0)) }
    }
}
