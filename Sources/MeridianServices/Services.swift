import Logging
import ServiceLifecycle
import UnixSignals

/// A part of the process that runs from start-up until the group's graceful shutdown, then stops
/// with `stop` (the store, the broker, the bridges, the operations endpoint: each started before
/// the group runs, so that start-up errors surface before the process says it is ready).
struct StopOnShutdown: Service, CustomStringConvertible {
    let description: String
    let stop: @Sendable () -> Void

    init(_ name: String, stop: @escaping @Sendable () -> Void) {
        self.description = name
        self.stop = stop
    }

    func run() async throws {
        try? await gracefulShutdown()
        stop()
    }
}

/// The process's signals, trapped from the first moment of start-up (``Gateway/start(_:)``), so a
/// signal sent while the listeners open is acted on rather than lost or fatal: SIGHUP reloads the
/// configuration (``Gateway/reload()``); SIGTERM or SIGINT ends this service, which shuts the
/// group down gracefully.
struct SignalHandling: Service, CustomStringConvertible {
    let signals: UnixSignalsSequence
    let reload: @Sendable () -> Void
    let logger: Logger
    var description: String { "signals" }

    func run() async throws {
        for await signal in signals.cancelOnGracefulShutdown() {
            switch signal {
            case .sighup:
                reload()
            default:
                logger.notice("signal \(signal) received, shutting down")
                return
            }
        }
    }
}

/// Says to systemd (`Type=notify`) that the process serves, once every service is up, and that
/// it stops, first thing at shutdown (the group stops services in reverse order; this is last).
struct Readiness: Service, CustomStringConvertible {
    let logger: Logger
    var description: String { "readiness" }

    func run() async throws {
        SystemdNotify.ready()
        try? await gracefulShutdown()
        logger.notice("shutting down")
        SystemdNotify.stopping()
    }
}
