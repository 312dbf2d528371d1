import ArgumentParser
import MeridianServices

/// `meridian-edge`: the edge gateway, composition only (``Gateway`` does the wiring).
@main
struct MeridianEdge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meridian-edge",
        abstract: "Meridian edge gateway: an MQTT 3.1.1 and 5.0 broker for field devices.",
        version: "meridian-edge \(Gateway.version)"
    )

    @Option(name: [.short, .long], help: ArgumentHelp("Configuration file (Mosquitto syntax); default: built-in defaults.", valueName: "file"))
    var config: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Listen on this port on all interfaces instead of the configured listeners.", valueName: "port"))
    var port: Int?

    func validate() throws {
        if let port, !(1...65_535).contains(port) {
            throw ValidationError("--port needs a port number between 1 and 65535")
        }
    }

    func run() async throws {
        let gateway: Gateway
        do {
            gateway = try await Gateway.start(.init(program: "meridian-edge", version: Gateway.version, configPath: config, portOverride: port))
        } catch {
            Gateway.exit(program: "meridian-edge", failure: error)
        }
        try await gateway.run()
    }
}
