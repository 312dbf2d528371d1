import MeridianConfig
import Testing

/// A configuration text and the exact error it must give.
struct BadFile: Sendable, CustomTestStringConvertible {
    let text: String
    let error: String
    var testDescription: String { text.debugDescription }

    init(_ text: String, _ error: String) {
        self.text = text
        self.error = error
    }
}

@Suite("Bad lines")
struct BadLineTests {
    @Test("unknown options, by exact name", arguments: [
        BadFile("max_queud_messages 10", "edge.conf:1: unknown option 'max_queud_messages'"),
        BadFile("# settings\n\nsys_interval 10\nmax_queud_messages 10", "edge.conf:4: unknown option 'max_queud_messages'"),
        BadFile("Listener 1883", "edge.conf:1: unknown option 'Listener'"),
        BadFile("maximum_qos 1", "edge.conf:1: unknown option 'maximum_qos'"),
        BadFile("listener 1883\n  bogus", "edge.conf:2: unknown option 'bogus'"),
    ])
    func unknownOption(file: BadFile) {
        #expect(parseError(file.text) == file.error)
    }

    @Test("missing, extra and malformed values", arguments: [
        BadFile("max_inflight_messages abc", "edge.conf:1: max_inflight_messages: 'abc' is not an integer"),
        BadFile("\n\nmax_inflight_messages abc", "edge.conf:3: max_inflight_messages: 'abc' is not an integer"),
        BadFile("sys_interval 1.5", "edge.conf:1: sys_interval: '1.5' is not an integer"),
        BadFile("sys_interval 0x10", "edge.conf:1: sys_interval: '0x10' is not an integer"),
        BadFile("sys_interval 10s", "edge.conf:1: sys_interval: '10s' is not an integer"),
        BadFile("sys_interval", "edge.conf:1: sys_interval: missing value"),
        BadFile("sys_interval   \t", "edge.conf:1: sys_interval: missing value"),
        BadFile("sys_interval 10 20", "edge.conf:1: sys_interval: unexpected extra value '20'"),
        BadFile("allow_anonymous yes", "edge.conf:1: allow_anonymous: 'yes' is not a boolean (expected true or false)"),
        BadFile("allow_anonymous 1", "edge.conf:1: allow_anonymous: '1' is not a boolean (expected true or false)"),
        BadFile("persistence True", "edge.conf:1: persistence: 'True' is not a boolean (expected true or false)"),
        BadFile("allow_anonymous", "edge.conf:1: allow_anonymous: missing value"),
        BadFile("allow_anonymous true false", "edge.conf:1: allow_anonymous: unexpected extra value 'false'"),
        BadFile("persistence_location", "edge.conf:1: persistence_location: missing value"),
        BadFile("clientid_prefixes  ", "edge.conf:1: clientid_prefixes: missing value"),
        BadFile("persistent_client_expiration", "edge.conf:1: persistent_client_expiration: missing value"),
        BadFile("persistent_client_expiration 1d 2d", "edge.conf:1: persistent_client_expiration: unexpected extra value '2d'"),
    ])
    func malformedValue(file: BadFile) {
        #expect(parseError(file.text) == file.error)
    }

    @Test("a '#' after an option is not a comment", arguments: [
        BadFile(
            "sys_interval 10 # seconds",
            "edge.conf:1: sys_interval: a comment must be on a line of its own ('#' starts a comment only at the start of a line)"
        ),
        BadFile(
            "listener 1883 #all interfaces",
            "edge.conf:1: listener: a comment must be on a line of its own ('#' starts a comment only at the start of a line)"
        ),
        BadFile(
            "persistence_location /data #old",
            "edge.conf:1: persistence_location: a comment must be on a line of its own ('#' starts a comment only at the start of a line)"
        ),
    ])
    func inlineComment(file: BadFile) {
        #expect(parseError(file.text) == file.error)
    }

    @Test("integers out of range", arguments: [
        BadFile("max_keepalive 65536", "edge.conf:1: max_keepalive: 65536 is out of range (0 to 65535)"),
        BadFile("max_keepalive -1", "edge.conf:1: max_keepalive: -1 is out of range (0 to 65535)"),
        BadFile("max_packet_size 19", "edge.conf:1: max_packet_size: 19 is too small (at least 20; 0 means no limit)"),
        BadFile("max_packet_size 1", "edge.conf:1: max_packet_size: 1 is too small (at least 20; 0 means no limit)"),
        BadFile("max_packet_size 268435461", "edge.conf:1: max_packet_size: 268435461 is out of range (0 to 268435460; 0 means no limit)"),
        BadFile("max_packet_size -1", "edge.conf:1: max_packet_size: -1 is out of range (0 to 268435460; 0 means no limit)"),
        BadFile("message_size_limit 268435456", "edge.conf:1: message_size_limit: 268435456 is out of range (0 to 268435455; 0 means no limit)"),
        BadFile("max_inflight_messages 65536", "edge.conf:1: max_inflight_messages: 65536 is out of range (0 to 65535; 0 means no limit)"),
        BadFile("max_inflight_messages -1", "edge.conf:1: max_inflight_messages: -1 is out of range (0 to 65535; 0 means no limit)"),
        BadFile("max_inflight_bytes -1", "edge.conf:1: max_inflight_bytes: -1 is out of range (0 to 2147483647; 0 means no limit)"),
        BadFile("max_queued_messages -1", "edge.conf:1: max_queued_messages: -1 is out of range (0 to 2147483647; 0 means no limit)"),
        BadFile("max_queued_bytes 2147483648", "edge.conf:1: max_queued_bytes: 2147483648 is out of range (0 to 2147483647; 0 means no limit)"),
        BadFile(
            "max_queued_bytes 99999999999999999999999",
            "edge.conf:1: max_queued_bytes: 99999999999999999999999 is out of range (0 to 2147483647; 0 means no limit)"
        ),
        BadFile("max_qos 3", "edge.conf:1: max_qos: 3 is out of range (0 to 2)"),
        BadFile("max_qos -1", "edge.conf:1: max_qos: -1 is out of range (0 to 2)"),
        BadFile("max_topic_alias 65536", "edge.conf:1: max_topic_alias: 65536 is out of range (0 to 65535)"),
        BadFile("sys_interval 65536", "edge.conf:1: sys_interval: 65536 is out of range (0 to 65535; 0 disables $SYS)"),
        BadFile("sys_interval -1", "edge.conf:1: sys_interval: -1 is out of range (0 to 65535; 0 disables $SYS)"),
    ])
    func outOfRange(file: BadFile) {
        #expect(parseError(file.text) == file.error)
    }

    @Test("listener lines and listener options", arguments: [
        BadFile("listener", "edge.conf:1: listener: missing port"),
        BadFile("listener 0", "edge.conf:1: listener: 0 is out of range (1 to 65535)"),
        BadFile("listener 65536", "edge.conf:1: listener: 65536 is out of range (1 to 65535)"),
        BadFile("listener mqtt", "edge.conf:1: listener: 'mqtt' is not an integer"),
        BadFile("listener 1883 127.0.0.1 extra", "edge.conf:1: listener: unexpected extra value 'extra'"),
        BadFile(
            "listener 1883\nlistener 1884\nlistener 1883",
            "edge.conf:3: listener: port 1883 on all interfaces is already a listener (edge.conf:1)"
        ),
        BadFile(
            "listener 1883 ::1\nlistener 1883 ::1",
            "edge.conf:2: listener: port 1883 on '::1' is already a listener (edge.conf:1)"
        ),
        BadFile("listener 1883\nport 1883", "edge.conf:2: port: port 1883 on all interfaces is already a listener (edge.conf:1)"),
        BadFile("port 0", "edge.conf:1: port: 0 is out of range (1 to 65535)"),
        BadFile(
            "max_connections 10\nlistener 1883",
            "edge.conf:1: max_connections: must follow a 'listener' line (listener options apply to the latest listener)"
        ),
        BadFile(
            "protocol mqtt",
            "edge.conf:1: protocol: must follow a 'listener' line (listener options apply to the latest listener)"
        ),
        BadFile("listener 1883\nmax_connections many", "edge.conf:2: max_connections: 'many' is not an integer"),
        BadFile(
            "listener 1883\nmax_connections 2147483648",
            "edge.conf:2: max_connections: 2147483648 is out of range (-2147483648 to 2147483647; -1 means no limit)"
        ),
        BadFile("listener 8080\nprotocol websockets", "edge.conf:2: protocol websockets is not supported"),
        BadFile("listener 8080\nprotocol http_api", "edge.conf:2: protocol http_api is not supported"),
        BadFile("listener 1883\nprotocol", "edge.conf:2: protocol: missing value"),
        BadFile("listener 1883\nsocket_domain ipv5", "edge.conf:2: socket_domain: 'ipv5' is not one of ipv4, ipv6"),
        BadFile("listener 1883\nbind_interface", "edge.conf:2: bind_interface: missing interface name"),
        BadFile("listener 1883\nbind_interface eth0 eth1", "edge.conf:2: bind_interface: unexpected extra value 'eth1'"),
    ])
    func listener(file: BadFile) {
        #expect(parseError(file.text) == file.error)
    }

    @Test("log_type and log_dest values", arguments: [
        BadFile(
            "log_type verbose",
            "edge.conf:1: log_type: 'verbose' is not one of debug, error, warning, notice, information, subscribe, unsubscribe, websockets, none, all"
        ),
        BadFile("log_type error warning", "edge.conf:1: log_type: unexpected extra value 'warning'"),
        BadFile("log_type", "edge.conf:1: log_type: missing value"),
        BadFile("log_dest console", "edge.conf:1: log_dest: 'console' is not one of stderr, stdout, syslog, topic, file, none"),
        BadFile("log_dest file", "edge.conf:1: log_dest: missing file path"),
        BadFile(
            "log_dest file /tmp/a.log\nlog_dest file /tmp/b.log",
            "edge.conf:2: log_dest: only one 'file' destination is allowed"
        ),
        BadFile("log_dest stdout stderr", "edge.conf:1: log_dest: unexpected extra value 'stderr'"),
    ])
    func logging(file: BadFile) {
        #expect(parseError(file.text) == file.error)
    }

    @Test("mosquitto options for later work are refused, not ignored", arguments: [
        BadFile("psk_file /etc/meridian/psk", "edge.conf:1: option 'psk_file' is not supported yet"),
        BadFile("connection cloud\naddress a\ntopic #\nlocal_username edge", "edge.conf:4: option 'local_username' is not supported yet"),
        BadFile("bridge_tcp_keepalive 10 5 3", "edge.conf:1: option 'bridge_tcp_keepalive' is not supported yet"),
        BadFile("listener 8883\ndhparamfile /etc/ssl/dh.pem", "edge.conf:2: option 'dhparamfile' is not supported yet"),
        BadFile("persistence_file edge.db", "edge.conf:1: option 'persistence_file' is not supported yet"),
        BadFile("autosave_interval 1800", "edge.conf:1: option 'autosave_interval' is not supported yet"),
        BadFile("auth_opt_backend sqlite", "edge.conf:1: option 'auth_opt_backend' is not supported yet"),
        BadFile("plugin_opt_db /tmp/x", "edge.conf:1: option 'plugin_opt_db' is not supported yet"),
        BadFile("user mosquitto", "edge.conf:1: option 'user' is not supported yet"),
        // Refused before the values are looked at.
        BadFile("tls_engine", "edge.conf:1: option 'tls_engine' is not supported yet"),
        BadFile(
            "bind_address 127.0.0.1",
            "edge.conf:1: option 'bind_address' is not supported (deprecated; use 'listener <port> <address>')"
        ),
        BadFile("retry_interval 20", "edge.conf:1: option 'retry_interval' was removed in mosquitto 2.0"),
    ])
    func notSupportedYet(file: BadFile) {
        #expect(parseError(file.text) == file.error)
    }

    @Test("the first mistake is reported")
    func firstMistake() {
        #expect(parseError("sys_interval 10\nmax_qos 9\nbogus 1") == "edge.conf:2: max_qos: 9 is out of range (0 to 2)")
    }

    @Test("errors are ConfigError values with file, line and message")
    func errorValue() {
        #expect(throws: ConfigError(file: "edge.conf", line: 2, message: "unknown option 'max_queud_messages'")) {
            try parse("listener 1883\nmax_queud_messages 10")
        }
    }
}

@Suite("bridge_max_hops")
struct BridgeMaxHopsTests {
    @Test("default 8; 1 to 255 accepted")
    func accepted() throws {
        #expect(try parse("").bridgeMaxHops == 8)
        #expect(try parse("bridge_max_hops 1").bridgeMaxHops == 1)
        #expect(try parse("connection up\naddress 10.0.0.1\ntopic # both 1\nbridge_max_hops 255").bridgeMaxHops == 255)
    }

    @Test("0 and 256 refused with file:line")
    func refused() {
        #expect(parseError("bridge_max_hops 0")?.hasPrefix("edge.conf:1: bridge_max_hops") == true)
        #expect(parseError("\nbridge_max_hops 256")?.hasPrefix("edge.conf:2: bridge_max_hops") == true)
    }
}
