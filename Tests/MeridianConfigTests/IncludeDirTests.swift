import MeridianConfig
import Testing

@Suite("include_dir")
struct IncludeDirTests {
    struct UnreadableDirectory: Error, CustomStringConvertible {
        var description: String { "permission denied" }
    }

    @Test("files are read in the order given, at the include_dir line")
    func order() throws {
        let main = """
            max_queued_messages 1
            sys_interval 1
            include_dir /etc/meridian/conf.d
            max_inflight_messages 7
            """
        let files = [
            (path: "/etc/meridian/conf.d/10-limits.conf", text: "max_queued_messages 2\nsys_interval 5\nmax_inflight_messages 3"),
            (path: "/etc/meridian/conf.d/20-site.conf", text: "max_queued_messages 3"),
        ]
        var asked: [String] = []
        let parsed = try EdgeConfigParser.parse(text: main, file: "edge.conf") { directory in
            asked.append(directory)
            return files
        }
        #expect(asked == ["/etc/meridian/conf.d"])
        #expect(parsed.maxQueuedMessages == 3)  // the later file wins over the earlier and the main file
        #expect(parsed.sysInterval == 5)  // the included file wins over the lines before include_dir
        #expect(parsed.maxInflightMessages == 7)  // lines after include_dir win over the included files
    }

    @Test("the directory is the rest of the line")
    func directoryWithSpaces() throws {
        var asked: [String] = []
        _ = try EdgeConfigParser.parse(text: "include_dir  /srv/edge config/conf.d ", file: "edge.conf") { directory in
            asked.append(directory)
            return []
        }
        #expect(asked == ["/srv/edge config/conf.d"])
    }

    @Test("an error in an included file names that file and its line")
    func errorInIncludedFile() {
        let files = [
            (path: "conf.d/a.conf", text: "sys_interval 5"),
            (path: "conf.d/b.conf", text: "# limits\nmax_queued_messages many"),
        ]
        #expect(
            parseError("listener 1883\ninclude_dir conf.d\nsys_interval 10", files: files)
                == "conf.d/b.conf:2: max_queued_messages: 'many' is not an integer"
        )
        #expect(throws: ConfigError(file: "conf.d/b.conf", line: 2, message: "max_queued_messages: 'many' is not an integer")) {
            try parse("include_dir conf.d", files: files)
        }
    }

    @Test("include_dir is only valid in the main file")
    func nestedIncludeDir() {
        let files = [(path: "conf.d/a.conf", text: "\ninclude_dir conf.d")]
        #expect(
            parseError("include_dir conf.d", files: files)
                == "conf.d/a.conf:2: include_dir: only allowed in the main configuration file"
        )
    }

    @Test("include_dir needs a directory")
    func missingDirectory() {
        #expect(parseError("include_dir") == "edge.conf:1: include_dir: missing directory")
    }

    @Test("a failing directory read is reported at the include_dir line")
    func unreadableDirectory() {
        #expect(throws: ConfigError(file: "edge.conf", line: 2, message: "include_dir: cannot read 'conf.d': permission denied")) {
            try EdgeConfigParser.parse(text: "sys_interval 5\ninclude_dir conf.d", file: "edge.conf") { _ in
                throw UnreadableDirectory()
            }
        }
    }

    @Test("a ConfigError from the reader is passed on unchanged")
    func readerConfigError() {
        let error = ConfigError(file: "conf.d/broken.conf", line: 0, message: "not UTF-8")
        #expect(throws: error) {
            try EdgeConfigParser.parse(text: "include_dir conf.d", file: "edge.conf") { _ in throw error }
        }
    }

    @Test("an included file has no current listener, and the main file keeps its own")
    func listenerScope() throws {
        #expect(
            parseError("listener 1883\ninclude_dir conf.d", files: [(path: "conf.d/a.conf", text: "max_connections 5")])
                == "conf.d/a.conf:1: max_connections: must follow a 'listener' line (listener options apply to the latest listener)"
        )
        let parsed = try parse(
            "listener 1883\ninclude_dir conf.d\nmax_connections 5",
            files: [(path: "conf.d/a.conf", text: "listener 1884\nmax_connections 9")]
        )
        #expect(parsed.listeners == [Listener(port: 1883, maxConnections: 5), Listener(port: 1884, maxConnections: 9)])
    }

    @Test("a duplicate listener names the file that defined the first")
    func duplicateListenerAcrossFiles() {
        #expect(
            parseError("include_dir conf.d\nlistener 1883", files: [(path: "conf.d/a.conf", text: "\nlistener 1883")])
                == "edge.conf:2: listener: port 1883 on all interfaces is already a listener (conf.d/a.conf:2)"
        )
    }

    @Test("log_type and log_dest accumulate across files")
    func loggingAcrossFiles() throws {
        let parsed = try parse(
            "include_dir conf.d\nlog_type debug\nlog_dest stdout",
            files: [(path: "conf.d/log.conf", text: "log_type error\nlog_dest syslog")]
        )
        #expect(parsed.logTypes == [.error, .debug])
        #expect(parsed.logDestinations == [.syslog, .stdout])
    }

    @Test("without a reader, include_dir includes nothing")
    func defaultReader() throws {
        #expect(try EdgeConfigParser.parse(text: "include_dir conf.d", file: "edge.conf") == EdgeConfiguration())
    }
}
