import Logging
import MeridianBridgeCore
import MeridianBroker
import NIOConcurrencyHelpers
import NIOCore

/// Runs the configured bridges and applies a new set of bridge blocks (SIGHUP): changed or new
/// bridges are (re)started and removed ones stopped. A bridge's outbox is its local session in
/// the store, so restarting it loses nothing queued.
public final class BridgeSupervisor: @unchecked Sendable {
    let server: BrokerServer
    private let logger: Logger
    private let lock = NIOLock()
    private var running: [String: (settings: BridgeSettings, link: BridgeLink)] = [:]
    private var nextLoop = 0

    public init(server: BrokerServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    /// Brings the running bridges in line with `bridges`. Throws (changing nothing) if a topic map is invalid.
    public func apply(_ bridges: [BridgeSettings]) throws {
        try lock.withLock {
            let loops = server.eventLoops
            var started: [String: (settings: BridgeSettings, link: BridgeLink)] = [:]
            for settings in bridges where running[settings.name]?.settings != settings {
                let link = try BridgeLink(settings: settings, server: server, loop: loops[nextLoop % loops.count], logger: logger)
                nextLoop += 1
                started[settings.name] = (settings, link)
            }
            let names = Set(bridges.map(\.name))
            for (name, old) in running where !names.contains(name) || started[name] != nil {
                logger.notice("stopping bridge", metadata: ["bridge": "\(name)"])
                old.link.stop()
                running[name] = nil
            }
            for (name, new) in started {
                new.link.start()
                running[name] = new
            }
        }
    }

    /// The links running now.
    func runningLinks() -> [BridgeLink] {
        lock.withLock { running.values.map(\.link) }
    }

    public func stopAll() {
        lock.withLock {
            for (_, bridge) in running { bridge.link.stop() }
            running.removeAll()
        }
    }
}
