import MeridianConfig
import Testing

/// `http_listener` and `ready_requires_bridge` (Meridian additions).
@Suite("Operations options")
struct OperationsOptionTests {
    @Test("good lines", arguments: [
        GoodFile("http_listener 9883") { $0.httpListener = .init(port: 9883) },
        GoodFile("http_listener 9883 127.0.0.1") { $0.httpListener = .init(port: 9883, bindAddress: "127.0.0.1") },
        GoodFile("http_listener 8080 ::1") { $0.httpListener = .init(port: 8080, bindAddress: "::1") },
        GoodFile("http_listener 1\nhttp_listener 2 localhost") { $0.httpListener = .init(port: 2, bindAddress: "localhost") },
        GoodFile("listener 1883\nhttp_listener 9883") {
            $0.listeners = [Listener(port: 1883)]
            $0.httpListener = .init(port: 9883)
        },
        GoodFile("ready_requires_bridge true") { $0.readyRequiresBridge = true },
        GoodFile("ready_requires_bridge false") { $0.readyRequiresBridge = false },
    ])
    func goodLine(_ file: GoodFile) throws {
        #expect(try parse(file.text) == file.expected)
    }

    @Test("defaults: no HTTP port, readiness without bridges")
    func defaults() {
        let defaults = EdgeConfiguration()
        #expect(defaults.httpListener == nil)
        #expect(defaults.readyRequiresBridge == false)
    }

    @Test("bad lines", arguments: [
        ("http_listener", "edge.conf:1: http_listener: missing port"),
        ("http_listener 0", "edge.conf:1: http_listener: 0 is out of range (1 to 65535)"),
        ("http_listener 70000", "edge.conf:1: http_listener: 70000 is out of range (1 to 65535)"),
        ("http_listener web", "edge.conf:1: http_listener: 'web' is not an integer"),
        ("http_listener 9883 127.0.0.1 extra", "edge.conf:1: http_listener: unexpected extra value 'extra'"),
        ("listener 1883\nhttp_listener 1883", "edge.conf:2: http_listener: port 1883 is already an MQTT listener"),
        ("ready_requires_bridge yes", "edge.conf:1: ready_requires_bridge: 'yes' is not a boolean (expected true or false)"),
        ("ready_requires_bridge", "edge.conf:1: ready_requires_bridge: missing value"),
    ])
    func badLine(_ text: String, _ message: String) {
        #expect(parseError(text) == message)
    }
}
