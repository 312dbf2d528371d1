import MeridianConfig
import Testing

@Suite("Security and containment options")
struct SecurityOptionTests {
    @Test("password_file, acl_file and max_publish_rate are read; defaults are off")
    func globalOptions() throws {
        #expect(EdgeConfiguration().passwordFile == nil)
        #expect(EdgeConfiguration().aclFile == nil)
        #expect(EdgeConfiguration().maxPublishRate == 0)
        let parsed = try parse("password_file /etc/meridian/passwd file\nacl_file /etc/meridian/acl\nmax_publish_rate 50")
        #expect(parsed.passwordFile == "/etc/meridian/passwd file")
        #expect(parsed.aclFile == "/etc/meridian/acl")
        #expect(parsed.maxPublishRate == 50)
    }

    @Test("max_connections_per_address applies to the latest listener; negative means no limit")
    func perAddressLimit() throws {
        #expect(EdgeConfiguration.Listener(port: 1).maxConnectionsPerAddress == -1)
        let parsed = try parse("listener 1883\nmax_connections_per_address 4\nlistener 1884\nmax_connections_per_address -7")
        #expect(parsed.listeners.map(\.maxConnectionsPerAddress) == [4, -1])
    }

    @Test("bad values name the file and line", arguments: [
        ("max_publish_rate -1", "edge.conf:1: max_publish_rate: -1 is out of range (0 to 2147483647; 0 means no limit)"),
        ("password_file", "edge.conf:1: password_file: missing value"),
        (
            "max_connections_per_address 3",
            "edge.conf:1: max_connections_per_address: must follow a 'listener' line (listener options apply to the latest listener)"
        ),
    ])
    func badValues(text: String, message: String) {
        #expect(parseError(text) == message)
    }
}
