import Foundation
import MeridianTestSupport
import Testing

extension BrokerIntegration {
    /// `edge/install.sh` and `edge/build-deb.sh`, run with the binary the tests use (a debug
    /// build: `--binary-dir`) instead of building a release binary.
    @Suite("21 Install and package", .serialized, .enabled(if: BrokerIntegration.isMeridian, "installs meridian-edge"))
    struct InstallTests {
        static let repository = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // IntegrationTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()

        static var binaryDirectory: String {
            get throws { URL(fileURLWithPath: try TestPaths.meridianEdge()).deletingLastPathComponent().path }
        }

        @discardableResult
        static func script(_ name: String, _ arguments: [String], environment: [String] = []) async throws -> ProcessResult {
            let path = repository.appendingPathComponent("edge/\(name)").path
            return try await ProcessRunner.run("env", environment + ["bash", path] + arguments, timeout: .seconds(120))
                .requireSuccess()
        }

        static func read(_ root: URL, _ path: String) throws -> String {
            try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
        }

        @Test("install.sh with DESTDIR lays out binary, configuration, unit and state directory, and creates no user")
        func installTree() async throws {
            let root = try TestPaths.makeTemporaryDirectory(prefix: "meridian-destdir")
            defer { try? FileManager.default.removeItem(at: root) }
            try await Self.script("install.sh", ["--binary-dir", try Self.binaryDirectory], environment: ["DESTDIR=\(root.path)"])

            let files = try Set(FileManager.default.subpathsOfDirectory(atPath: root.path))
            let expected: Set<String> = [
                "usr/local/bin/meridian-edge", "etc/meridian/meridian-edge.conf", "etc/meridian/passwd", "etc/meridian/bridges",
                "etc/systemd/system/meridian-edge.service", "var/lib/meridian",
                "usr/local/share/doc/meridian-edge/bridge.conf.example",
            ]
            #expect(expected.isSubset(of: files), "missing: \(expected.subtracting(files).sorted())")
            #expect(FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("usr/local/bin/meridian-edge").path))

            let conf = try Self.read(root, "etc/meridian/meridian-edge.conf")
            #expect(conf.contains("\npersistence_location /var/lib/meridian/\n"))
            #expect(conf.contains("\nhttp_listener 9883 127.0.0.1\n"))
            let unit = try Self.read(root, "etc/systemd/system/meridian-edge.service")
            for line in [
                "ExecStart=/usr/local/bin/meridian-edge --config /etc/meridian/meridian-edge.conf",
                "User=meridian", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=meridian",
                "Type=notify",
            ] {
                #expect(unit.contains(line + "\n"), "unit lacks \(line)")
            }
            let state = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent("var/lib/meridian").path)
            #expect((state[.posixPermissions] as? Int) == 0o750)

            // A second install keeps the edited configuration and writes the new default beside it.
            try Data("# edited\n".utf8).write(to: root.appendingPathComponent("etc/meridian/meridian-edge.conf"))
            try await Self.script("install.sh", ["--binary-dir", try Self.binaryDirectory], environment: ["DESTDIR=\(root.path)"])
            #expect(try Self.read(root, "etc/meridian/meridian-edge.conf") == "# edited\n")
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("etc/meridian/meridian-edge.conf.dist").path))
        }

        @Test("build-deb.sh makes meridian-edge_<version>_<dpkg architecture>.deb with the expected control data and files")
        func debianPackage() async throws {
            let output = try TestPaths.makeTemporaryDirectory(prefix: "meridian-deb")
            defer { try? FileManager.default.removeItem(at: output) }
            let built = try await Self.script("build-deb.sh", ["--binary-dir", try Self.binaryDirectory, "--output", output.path])
            let architecture = try await ProcessRunner.run("dpkg", ["--print-architecture"]).requireSuccess().stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let package = output.appendingPathComponent("meridian-edge_0.1.0_\(architecture).deb").path
            #expect(built.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == package)
            #expect(FileManager.default.fileExists(atPath: package))

            let info = try await ProcessRunner.run("dpkg-deb", ["--info", package]).requireSuccess().stdout
            for field in ["Package: meridian-edge", "Version: 0.1.0", "Architecture: \(architecture)", "Depends: ", "libsqlite3-0", "libstdc++6"] {
                #expect(info.contains(field), "\(field) missing from\n\(info)")
            }
            for script in ["postinst", "prerm", "postrm", "conffiles"] { #expect(info.contains(script), "no \(script)") }
            let extracted = try TestPaths.makeTemporaryDirectory(prefix: "meridian-ctrl")
            defer { try? FileManager.default.removeItem(at: extracted) }
            try await ProcessRunner.run("dpkg-deb", ["--control", package, extracted.path]).requireSuccess()
            let postinstText = try Self.read(extracted, "postinst")
            #expect(postinstText.contains("adduser --system --group"), "\(postinstText)")
            #expect(try Self.read(extracted, "conffiles") == "/etc/meridian/meridian-edge.conf\n/etc/meridian/passwd\n")

            let contents = try await ProcessRunner.run("dpkg-deb", ["--contents", package]).requireSuccess().stdout
            for path in [
                "./usr/bin/meridian-edge", "./etc/meridian/meridian-edge.conf", "./etc/meridian/passwd",
                "./lib/systemd/system/meridian-edge.service",
                "./var/lib/meridian/", "./usr/share/doc/meridian-edge/bridge.conf.example",
            ] {
                #expect(contents.contains(" \(path)\n"), "\(path) missing from\n\(contents)")
            }
            #expect(!contents.contains("/usr/local/"))
        }

        @Test("the installed binary starts from the installed configuration (ports and store moved) and serves clients")
        func installedBinaryServes() async throws {
            let root = try TestPaths.makeTemporaryDirectory(prefix: "meridian-destdir")
            defer { try? FileManager.default.removeItem(at: root) }
            try await Self.script("install.sh", ["--binary-dir", try Self.binaryDirectory], environment: ["DESTDIR=\(root.path)"])
            let port = try FreePort.allocate()
            let http = try FreePort.allocate()
            let state = root.appendingPathComponent("var/lib/meridian").path
            // The installed file with only what a test must change: the HTTP port and the store's directory.
            let installed = try Self.read(root, "etc/meridian/meridian-edge.conf")
            let conf = installed
                .replacingOccurrences(of: "\nhttp_listener 9883 127.0.0.1\n", with: "\nhttp_listener \(http) 127.0.0.1\n")
                .replacingOccurrences(of: "\npersistence_location /var/lib/meridian/\n", with: "\npersistence_location \(state)/\n")
            #expect(conf != installed)
            // Anonymous clients are refused and the installed password file is empty: add a device.
            let passwd = root.appendingPathComponent("etc/meridian/passwd").path
            #expect(try Self.read(root, "etc/meridian/passwd").isEmpty)
            #expect(installed.contains("\npassword_file /etc/meridian/passwd\n"))
            try await ProcessRunner.run("mosquitto_passwd", ["-b", passwd, "device-1", "s3cret"]).requireSuccess()
            let testConf = conf.replacingOccurrences(of: "\npassword_file ", with: "\n#password_file ")
                + "password_file \(passwd)\n"
            let confPath = root.appendingPathComponent("etc/meridian/test.conf")
            try Data(testConf.utf8).write(to: confPath)

            let edge = try RunningProcess(
                root.appendingPathComponent("usr/local/bin/meridian-edge").path,
                ["--config", confPath.path, "--port", "\(port)"], outputDirectory: root, outputName: "installed")
            defer { edge.cleanup() }
            let deadline = ContinuousClock.now + .seconds(20)
            var ready = HTTPProbe.Response(status: 0, body: "")
            while ready.status != 200 && ContinuousClock.now < deadline && edge.isRunning {
                try await Task.sleep(for: .milliseconds(50))
                ready = (try? await HTTPProbe.get(port: http, "/readyz")) ?? ready
            }
            #expect(ready.status == 200, "\(ready)\n\(edge.stderr)")

            let topic = Helpers.unique("installed")
            let login = ["-u", "device-1", "-P", "s3cret"]
            let sub = try await MosquittoSub.start(port: port, version: .v5, topics: [topic], qos: 1, extra: login)
            defer { sub.cleanup() }
            try await MosquittoPub.publish(
                port: port, version: .v311, topic: topic, message: "from the installed binary", qos: 1, extra: login)
            #expect(try await sub.waitForMessages(count: 1).map(\.text) == ["from the installed binary"])
            #expect(FileManager.default.fileExists(atPath: state + "/meridian.db"))
        }
    }
}
