import MeridianConfig
import Testing

/// A configuration text and the configuration it must parse to.
struct GoodFile: Sendable, CustomTestStringConvertible {
    let text: String
    let expected: EdgeConfiguration
    var testDescription: String { text.debugDescription }

    init(_ text: String, _ change: (inout EdgeConfiguration) -> Void) {
        self.text = text
        self.expected = configuration(change)
    }
}

typealias Listener = EdgeConfiguration.Listener

@Suite("Good files")
struct GoodFileTests {
    @Test("each general option", arguments: [
        GoodFile("allow_anonymous true") { $0.allowAnonymous = true },
        GoodFile("allow_cross_user_takeover true") { $0.allowCrossUserTakeover = true },
        GoodFile("allow_anonymous false") { $0.allowAnonymous = false },
        GoodFile("max_keepalive 60") { $0.maxKeepalive = 60 },
        GoodFile("max_keepalive 0") { $0.maxKeepalive = 0 },
        GoodFile("max_keepalive 65535") { $0.maxKeepalive = 65535 },
        GoodFile("max_packet_size 0") { $0.maxPacketSize = 0 },
        GoodFile("max_packet_size 20") { $0.maxPacketSize = 20 },
        GoodFile("max_packet_size 268435460") { $0.maxPacketSize = 268_435_460 },
        GoodFile("message_size_limit 1024") { $0.messageSizeLimit = 1024 },
        GoodFile("message_size_limit 268435455") { $0.messageSizeLimit = 268_435_455 },
        GoodFile("max_inflight_messages 0") { $0.maxInflightMessages = 0 },
        GoodFile("max_inflight_messages 65535") { $0.maxInflightMessages = 65535 },
        GoodFile("max_inflight_bytes 4096") { $0.maxInflightBytes = 4096 },
        GoodFile("max_queued_messages 0") { $0.maxQueuedMessages = 0 },
        GoodFile("max_queued_messages +500") { $0.maxQueuedMessages = 500 },
        GoodFile("max_queued_bytes 2147483647") { $0.maxQueuedBytes = 2_147_483_647 },
        GoodFile("queue_qos0_messages true") { $0.queueQoS0Messages = true },
        GoodFile("retain_available false") { $0.retainAvailable = false },
        GoodFile("max_qos 0") { $0.maxQoS = 0 },
        GoodFile("max_qos 1") { $0.maxQoS = 1 },
        GoodFile("max_topic_alias 0") { $0.maxTopicAlias = 0 },
        GoodFile("max_topic_alias 65535") { $0.maxTopicAlias = 65535 },
        GoodFile("persistent_client_expiration 2h") { $0.persistentClientExpiration = 7200 },
        GoodFile("sys_interval 0") { $0.sysInterval = 0 },
        GoodFile("sys_interval 65535") { $0.sysInterval = 65535 },
        GoodFile("set_tcp_nodelay false") { $0.setTCPNoDelay = false },
        GoodFile("connection_messages false") { $0.connectionMessages = false },
        GoodFile("persistence true") { $0.persistence = true },
        GoodFile("persistence_location /var/lib/meridian/") { $0.persistenceLocation = "/var/lib/meridian/" },
        GoodFile("persistence_location /data/edge store/  ") { $0.persistenceLocation = "/data/edge store/" },
        GoodFile("clientid_prefixes secure-") { $0.clientIDPrefixes = "secure-" },
    ])
    func generalOption(file: GoodFile) throws {
        #expect(try parse(file.text) == file.expected)
    }

    @Test("listeners and their options", arguments: [
        GoodFile("listener 1883") { $0.listeners = [Listener(port: 1883)] },
        GoodFile("listener 8883 127.0.0.1") { $0.listeners = [Listener(port: 8883, bindAddress: "127.0.0.1")] },
        GoodFile("listener 1883 ::1") { $0.listeners = [Listener(port: 1883, bindAddress: "::1")] },
        GoodFile("listener 1 edge.local") { $0.listeners = [Listener(port: 1, bindAddress: "edge.local")] },
        GoodFile("listener 65535") { $0.listeners = [Listener(port: 65535)] },
        GoodFile("listener 1883\nmax_connections 100") {
            $0.listeners = [Listener(port: 1883, maxConnections: 100)]
        },
        GoodFile("listener 1883\nmax_connections -1") { $0.listeners = [Listener(port: 1883, maxConnections: -1)] },
        // Any negative value means "no limit", as in mosquitto.
        GoodFile("listener 1883\nmax_connections -5") { $0.listeners = [Listener(port: 1883, maxConnections: -1)] },
        GoodFile("listener 1883\nmax_connections 0") { $0.listeners = [Listener(port: 1883, maxConnections: 0)] },
        GoodFile("listener 1883\nprotocol mqtt") { $0.listeners = [Listener(port: 1883)] },
        GoodFile("listener 1883\nsocket_domain ipv4") { $0.listeners = [Listener(port: 1883, socketDomain: .ipv4)] },
        GoodFile("listener 1883\nsocket_domain ipv6") { $0.listeners = [Listener(port: 1883, socketDomain: .ipv6)] },
        GoodFile("listener 1883\nbind_interface eth0") { $0.listeners = [Listener(port: 1883, bindInterface: "eth0")] },
        // Listener options apply to the latest listener line.
        GoodFile("listener 1883\nmax_connections 10\nlistener 1884 10.0.0.1\nmax_connections 20\nsocket_domain ipv4") {
            $0.listeners = [
                Listener(port: 1883, maxConnections: 10),
                Listener(port: 1884, bindAddress: "10.0.0.1", maxConnections: 20, socketDomain: .ipv4),
            ]
        },
        // The same port on different addresses is fine.
        GoodFile("listener 1883 127.0.0.1\nlistener 1883 10.0.0.1") {
            $0.listeners = [Listener(port: 1883, bindAddress: "127.0.0.1"), Listener(port: 1883, bindAddress: "10.0.0.1")]
        },
        // Global options between listener lines stay global.
        GoodFile("listener 1883\nmax_qos 1\nlistener 1884\nmax_topic_alias 5") {
            $0.listeners = [Listener(port: 1883), Listener(port: 1884)]
            $0.maxQoS = 1
            $0.maxTopicAlias = 5
        },
        // The deprecated `port` option: one listener on all interfaces; the latest port wins.
        GoodFile("port 1884") { $0.listeners = [Listener(port: 1884)] },
        GoodFile("port 1884\nmax_connections 3\nport 1885") {
            $0.listeners = [Listener(port: 1885, maxConnections: 3)]
        },
        GoodFile("port 1884\nlistener 1883\nport 1885\nmax_connections 7") {
            $0.listeners = [Listener(port: 1885, maxConnections: 7), Listener(port: 1883)]
        },
    ])
    func listeners(file: GoodFile) throws {
        #expect(try parse(file.text) == file.expected)
    }

    @Test("log_type and log_dest: the first line replaces the default, later lines add", arguments: [
        GoodFile("log_type debug") { $0.logTypes = [.debug] },
        GoodFile("log_type error\nlog_type subscribe\nlog_type unsubscribe") {
            $0.logTypes = [.error, .subscribe, .unsubscribe]
        },
        GoodFile("log_type websockets\nlog_type websockets") { $0.logTypes = [.websockets] },
        GoodFile("log_type none") { $0.logTypes = [] },
        GoodFile("log_type all") { $0.logTypes = Set(LogType.allCases) },
        GoodFile("log_type all\nlog_type none\nlog_type notice") { $0.logTypes = [.notice] },
        GoodFile("log_type information\nlog_type all") { $0.logTypes = Set(LogType.allCases) },
        GoodFile("log_dest stdout") { $0.logDestinations = [.stdout] },
        GoodFile("log_dest syslog\nlog_dest topic\nlog_dest stderr\nlog_dest syslog") {
            $0.logDestinations = [.syslog, .topic, .stderr]
        },
        GoodFile("log_dest file /var/log/meridian/edge.log") { $0.logDestinations = [.file("/var/log/meridian/edge.log")] },
        GoodFile("log_dest file  /var/log/my logs/edge.log ") { $0.logDestinations = [.file("/var/log/my logs/edge.log")] },
        GoodFile("log_dest stderr\nlog_dest file /tmp/edge.log") { $0.logDestinations = [.stderr, .file("/tmp/edge.log")] },
        GoodFile("log_dest file /tmp/edge.log\nlog_dest file /tmp/edge.log") { $0.logDestinations = [.file("/tmp/edge.log")] },
        GoodFile("log_dest none") { $0.logDestinations = [.none] },
        GoodFile("log_dest stdout\nlog_dest none") { $0.logDestinations = [.none] },
        GoodFile("log_dest none\nlog_dest syslog") { $0.logDestinations = [.syslog] },
    ])
    func logging(file: GoodFile) throws {
        #expect(try parse(file.text) == file.expected)
    }

    @Test("syntax: blanks, tabs, comments, line endings", arguments: [
        GoodFile("  sys_interval   5  ") { $0.sysInterval = 5 },
        GoodFile("sys_interval\t5\t") { $0.sysInterval = 5 },
        GoodFile("\tlistener \t1883\t 127.0.0.1") { $0.listeners = [Listener(port: 1883, bindAddress: "127.0.0.1")] },
        GoodFile("sys_interval 5\r\nmax_qos 1\r\n") {
            $0.sysInterval = 5
            $0.maxQoS = 1
        },
        GoodFile("\u{FEFF}sys_interval 5") { $0.sysInterval = 5 },
        GoodFile("# heading\n\n   # note\nsys_interval 5\n#sys_interval 6\n") { $0.sysInterval = 5 },
        // A later line replaces an earlier one.
        GoodFile("sys_interval 5\nsys_interval 7") { $0.sysInterval = 7 },
        GoodFile("clientid_prefixes a-\nclientid_prefixes b-") { $0.clientIDPrefixes = "b-" },
    ])
    func syntax(file: GoodFile) throws {
        #expect(try parse(file.text) == file.expected)
    }

    @Test("a full file")
    func fullFile() throws {
        let text = """
            # Edge broker in the plant network
            listener 1883
            max_connections 500
            listener 8884 127.0.0.1
            protocol mqtt

            allow_anonymous true
            max_keepalive 300
            max_packet_size 1048576
            message_size_limit 262144
            max_inflight_messages 32
            max_queued_messages 5000
            max_queued_bytes 10485760
            queue_qos0_messages true
            max_qos 1
            persistent_client_expiration 14d
            sys_interval 30
            log_dest stdout
            log_type error
            log_type warning
            connection_messages false
            persistence true
            persistence_location /var/lib/meridian/
            """
        let expected = configuration {
            $0.listeners = [Listener(port: 1883, maxConnections: 500), Listener(port: 8884, bindAddress: "127.0.0.1")]
            $0.allowAnonymous = true
            $0.maxKeepalive = 300
            $0.maxPacketSize = 1_048_576
            $0.messageSizeLimit = 262_144
            $0.maxInflightMessages = 32
            $0.maxQueuedMessages = 5000
            $0.maxQueuedBytes = 10_485_760
            $0.queueQoS0Messages = true
            $0.maxQoS = 1
            $0.persistentClientExpiration = 14 * 86400
            $0.sysInterval = 30
            $0.logDestinations = [.stdout]
            $0.logTypes = [.error, .warning]
            $0.connectionMessages = false
            $0.persistence = true
            $0.persistenceLocation = "/var/lib/meridian/"
        }
        #expect(try parse(text) == expected)
    }
}
