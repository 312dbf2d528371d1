import MeridianConfig
import Testing

@Suite("Defaults")
struct EdgeConfigurationDefaultsTests {
    @Test("defaults are mosquitto 2.0's, except set_tcp_nodelay")
    func defaultsMatchMosquitto() {
        let defaults = EdgeConfiguration()
        #expect(defaults.listeners == [])
        #expect(defaults.allowAnonymous == false)
        #expect(defaults.allowCrossUserTakeover == false)
        #expect(defaults.maxKeepalive == 65535)
        #expect(defaults.maxPacketSize == 0)
        #expect(defaults.messageSizeLimit == 0)
        #expect(defaults.maxInflightMessages == 20)
        #expect(defaults.maxInflightBytes == 0)
        #expect(defaults.maxQueuedMessages == 1000)
        #expect(defaults.maxQueuedBytes == 0)
        #expect(defaults.queueQoS0Messages == false)
        #expect(defaults.retainAvailable == true)
        #expect(defaults.maxQoS == 2)
        #expect(defaults.maxTopicAlias == 10)
        #expect(defaults.persistentClientExpiration == nil)
        #expect(defaults.sysInterval == 10)
        #expect(defaults.logTypes == [.error, .warning, .notice, .information])
        #expect(defaults.logDestinations == [.stderr])
        #expect(defaults.connectionMessages == true)
        #expect(defaults.persistence == false)
        #expect(defaults.persistenceLocation == nil)
        #expect(defaults.clientIDPrefixes == nil)
        // Meridian's one deliberate difference: mosquitto defaults to false.
        #expect(defaults.setTCPNoDelay == true)
    }

    @Test("a listener's defaults are mosquitto's")
    func listenerDefaults() {
        let listener = EdgeConfiguration.Listener(port: 1883)
        #expect(listener.bindAddress == nil)
        #expect(listener.maxConnections == -1)
        #expect(listener.socketDomain == nil)
        #expect(listener.bindInterface == nil)
    }

    @Test("an empty file, or one of comments and blank lines, gives the defaults", arguments: [
        "",
        "\n\n",
        "# a comment\n",
        "   # an indented comment\n\t# a tab-indented comment\n",
        "#listener 1884\n#sys_interval 0",
        "  \t  \n",
    ])
    func emptyFileGivesDefaults(text: String) throws {
        #expect(try parse(text) == EdgeConfiguration())
    }

    @Test("errors print as mosquitto's file:line: message")
    func errorDescription() {
        let error = ConfigError(file: "edge.conf", line: 12, message: "unknown option 'max_queud_messages'")
        #expect(error.description == "edge.conf:12: unknown option 'max_queud_messages'")
    }
}
