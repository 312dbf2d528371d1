import Logging
import MeridianBridge
import MeridianBroker
import MeridianBrokerCore
import MeridianConfig
import MeridianOps
import MeridianSecurity
import MeridianStore
import ServiceLifecycle
import UnixSignals
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One broker process composed of services: the store, the broker and its listeners, the bridges,
/// the operations endpoint and SIGHUP reloads, run as one `ServiceGroup` that SIGTERM and SIGINT
/// shut down in reverse order (endpoint, bridges, broker, store). `meridian-edge` is this with the
/// edge's configuration; the region node adds its cluster services to the same group.
///
/// Everything that can fail at start-up (configuration, security files, the store, a listener,
/// a bridge, the HTTP port) fails in ``start(_:)``, before the process says it is ready.
public final class Gateway: @unchecked Sendable {
    /// A start-up failure, printed as `PROGRAM: message` before the process exits 1.
    /// The version every Meridian binary reports.
    public static let version = "0.1.0"

    public struct StartupFailure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Prints `PROGRAM: message` on stderr and exits 1.
    public static func exit(program: String, failure: StartupFailure) -> Never {
        fputs("\(program): \(failure)\n", stderr)
        #if canImport(Darwin)
        Darwin.exit(1)
        #elseif canImport(Musl)
        Musl.exit(1)
        #else
        Glibc.exit(1)
        #endif
    }

    public struct Options: Sendable {
        /// The program's name in its log label and messages.
        public var program: String
        public var version: String
        public var configPath: String?
        /// Listen on this port on all interfaces instead of the configured listeners.
        public var portOverride: Int?
        /// Reads the configuration file (at start-up and on SIGHUP): the edge's parser, or the
        /// region node's, which takes its cluster directives out first.
        public typealias Parse = @Sendable (_ text: String, _ file: String, _ includeDir: EdgeConfigParser.IncludeDirectoryReader) throws -> EdgeConfiguration
        public var parse: Parse
        /// The seam every CONNECT passes (the region node: its cluster's answer).
        public var admission: any SessionAdmission
        /// The other nodes of a cluster (the region node's inter-node links); nil on the edge.
        public var cluster: (any ClusterRouting)?
        /// Further `/readyz` checks and JSON paths of the operations endpoint.
        public var readinessChecks: [@Sendable () -> (ok: Bool, line: String)]
        public var jsonRoutes: [String: @Sendable () -> String]
        public var gauges: [OperationsEndpoint.ExtraGauge]

        public init(
            program: String, version: String, configPath: String?, portOverride: Int?,
            parse: @escaping @Sendable (String, String, EdgeConfigParser.IncludeDirectoryReader) throws -> EdgeConfiguration = {
                try EdgeConfigParser.parse(text: $0, file: $1, includeDir: $2)
            },
            admission: any SessionAdmission = LocalAdmission(), cluster: (any ClusterRouting)? = nil,
            readinessChecks: [@Sendable () -> (ok: Bool, line: String)] = [], jsonRoutes: [String: @Sendable () -> String] = [:],
            gauges: [OperationsEndpoint.ExtraGauge] = []
        ) {
            self.program = program
            self.version = version
            self.configPath = configPath
            self.portOverride = portOverride
            self.parse = parse
            self.admission = admission
            self.cluster = cluster
            self.readinessChecks = readinessChecks
            self.jsonRoutes = jsonRoutes
            self.gauges = gauges
        }
    }

    let options: Options
    public let configuration: EdgeConfiguration
    public let logger: Logger
    public let server: BrokerServer
    public let bridges: BridgeSupervisor
    let store: SQLiteStore?
    let operations: OperationsEndpoint
    let listenerSettings: [ListenerSettings]
    let signals: UnixSignalsSequence

    private init(
        options: Options, configuration: EdgeConfiguration, logger: Logger, server: BrokerServer,
        bridges: BridgeSupervisor, store: SQLiteStore?, operations: OperationsEndpoint, listenerSettings: [ListenerSettings],
        signals: UnixSignalsSequence
    ) {
        self.signals = signals
        self.options = options
        self.configuration = configuration
        self.logger = logger
        self.server = server
        self.bridges = bridges
        self.store = store
        self.operations = operations
        self.listenerSettings = listenerSettings
    }

    /// A latency histogram of `/metrics` that the tier records into (see ``OperationsEndpoint/durationHistogram(name:help:buckets:)``).
    public func durationHistogram(name: String, help: String, buckets: [Duration]) -> @Sendable (Duration) -> Void {
        operations.durationHistogram(name: name, help: help, buckets: buckets)
    }

    /// Reads the configuration, sets up logging, opens the store, binds the listeners and starts
    /// the bridges and the operations endpoint.
    public static func start(_ options: Options) async throws(StartupFailure) -> Gateway {
        signal(SIGPIPE, SIG_IGN)
        // Dispatch's signal sources read these signals while their default action is disabled;
        // trapped before the listeners open, so an early SIGTERM or SIGHUP is acted on, not fatal.
        for number in [SIGHUP, SIGTERM, SIGINT] { signal(number, SIG_IGN) }
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigterm, .sigint)
        let configuration = try loadConfiguration(options.configPath, parse: options.parse)
        try checkSupported(configuration)
        let security: SecurityPolicy
        do {
            security = try SecurityFiles.policy(for: configuration)
        } catch {
            throw StartupFailure(description: "\(error)")
        }
        bootstrapLogging(configuration)
        let logger = Logger(label: options.program)
        logger.notice("security: \(SecurityFiles.summary(security))")
        let listenerSettings = configuration.listenerSettings(portOverride: options.portOverride)
        for warning in SecurityFiles.listenersAdmittingNobody(listenerSettings, policy: security) {
            logger.warning("\(warning)")
        }

        // Created before the store so that the store's writer can feed the commit latency histogram.
        let operations = OperationsEndpoint(version: options.version, logger: logger)
        let opened = try openStore(configuration, operations: operations, logger: logger)
        let server = BrokerServer(
            configuration: .init(
                broker: configuration.brokerSettings(), listeners: listenerSettings,
                sysInterval: configuration.sysInterval, tcpNoDelay: configuration.setTCPNoDelay,
                version: options.version, storeDirectory: opened?.directory, security: security
            ),
            logger: logger, store: opened?.store, recovered: opened?.recovered, admission: options.admission,
            cluster: options.cluster
        )
        do {
            try server.start()
        } catch {
            throw StartupFailure(description: "cannot start listener: \(error)")
        }
        logger.notice("\(options.program) \(options.version) running", metadata: [
            "node": "\(server.node.id)", "incarnation": "\(server.node.incarnation)",
        ])

        let bridges = BridgeSupervisor(server: server, logger: logger)
        if opened == nil, let bridge = configuration.bridges.first {
            logger.warning("bridge \(bridge.name): persistence is off, so bridge outboxes live in memory only")
        }
        do {
            try bridges.apply(configuration.bridges)
        } catch {
            throw StartupFailure(description: "\(error)")
        }
        if let http = configuration.httpListener {
            do {
                try operations.start(
                    sources: .init(
                        server: server, bridges: bridges, store: opened?.store, storeDirectory: opened?.directory,
                        readyRequiresBridge: configuration.readyRequiresBridge,
                        readinessChecks: options.readinessChecks, jsonRoutes: options.jsonRoutes, gauges: options.gauges
                    ),
                    host: http.bindAddress ?? "0.0.0.0", port: http.port
                )
            } catch {
                throw StartupFailure(description: "cannot start http_listener \(http.port): \(error)")
            }
        }
        return Gateway(
            options: options, configuration: configuration, logger: logger, server: server, bridges: bridges,
            store: opened?.store, operations: operations, listenerSettings: listenerSettings, signals: signals)
    }

    /// Runs until SIGTERM or SIGINT, then stops every service in reverse order. `extra` services
    /// (the region tier's) start after the gateway's own and stop before them.
    public func run(adding extra: [any Service] = []) async throws {
        let store = self.store
        var services: [any Service] = [
            StopOnShutdown("store") { store?.close() },
            StopOnShutdown("broker") { [server] in server.shutdown() },
            StopOnShutdown("bridges") { [bridges] in bridges.stopAll() },
            StopOnShutdown("operations") { [operations] in operations.shutdown() },
        ]
        services += extra
        services.append(Readiness(logger: logger))
        var configurations = services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        // SIGTERM / SIGINT end the signal service, and its end shuts the group down gracefully.
        configurations.append(.init(
            service: SignalHandling(signals: signals, reload: { [self] in reload() }, logger: logger),
            successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: .init(services: configurations, logger: logger))
        try await group.run()
        logger.notice("stopped")
    }

    // MARK: - Start-up steps

    static func loadConfiguration(_ path: String?, parse: Options.Parse) throws(StartupFailure) -> EdgeConfiguration {
        guard let path else { return EdgeConfiguration() }
        do {
            let text = try FileReading.readText(path)
            return try parse(text, path, FileReading.confFiles(in:))
        } catch {
            throw StartupFailure(description: "\(error)")
        }
    }

    /// Options parsed but not built yet stop start-up rather than being ignored.
    static func checkSupported(_ configuration: EdgeConfiguration) throws(StartupFailure) {
        if let listener = configuration.listeners.first(where: { $0.bindInterface != nil }) {
            throw StartupFailure(description: "listener \(listener.port): bind_interface is not supported yet; use a bind address instead")
        }
        if let bridge = configuration.bridges.first(where: { $0.unsupportedOption != nil }) {
            throw StartupFailure(description: "connection \(bridge.name): \(bridge.unsupportedOption!) is not supported yet")
        }
        if configuration.logDestinations.contains(where: { if case .file = $0 { return true }; return $0 == .syslog || $0 == .topic }) {
            throw StartupFailure(description: "log_dest: only stderr, stdout and none are supported yet")
        }
    }

    static func bootstrapLogging(_ configuration: EdgeConfiguration) {
        let level = configuration.logLevel
        let toStdout = configuration.logDestinations.contains(.stdout)
        let none = configuration.logDestinations == [.none]
        LoggingSystem.bootstrap { label in
            if none { return SwiftLogNoOpLogHandler() }
            var handler = toStdout ? StreamLogHandler.standardOutput(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    struct OpenedStore {
        var store: SQLiteStore
        var recovered: RecoveredState
        var directory: String
    }

    /// Opens the store when `persistence true`; nil otherwise.
    static func openStore(
        _ configuration: EdgeConfiguration, operations: OperationsEndpoint, logger: Logger
    ) throws(StartupFailure) -> OpenedStore? {
        guard configuration.persistence else { return nil }
        // A file-size limit (RLIMIT_FSIZE) must surface as a failed write, not kill the process.
        signal(SIGXFSZ, SIG_IGN)
        var directory = configuration.persistenceLocation.map { $0.isEmpty ? "." : $0 } ?? "."
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        mkdir(directory, 0o750)
        var wallClock = timespec()
        clock_gettime(CLOCK_REALTIME, &wallClock)
        do {
            let sync: StoreSync = configuration.persistenceSync == .full ? .full : .normal
            let (store, recovered) = try SQLiteStore.open(
                options: .init(
                    directory: directory, sync: sync,
                    maxBatchDelay: .milliseconds(Int64(configuration.persistenceCommitDelay)),
                    observeCommit: operations.observeCommit
                ),
                now: Int64(wallClock.tv_sec),
                log: { logger.notice("\($0)") }
            )
            logger.notice("store open", metadata: ["path": "\(directory)/meridian.db", "sync": "\(sync.rawValue)"])
            return OpenedStore(store: store, recovered: recovered, directory: directory)
        } catch {
            throw StartupFailure(description: "cannot open the store in \(directory): \(error)")
        }
    }

    // MARK: - Reload

    /// SIGHUP: re-reads the configuration file and applies its bridge blocks (changed or new
    /// bridges (re)started, removed ones stopped; their outboxes are their sessions in the store,
    /// so nothing queued is lost), and `allow_anonymous`, the password file and the ACL file (kept
    /// as they were if one cannot be read or parsed). Other options take effect at the next start.
    func reload() {
        guard let path = options.configPath else {
            logger.notice("SIGHUP: no configuration file to reload")
            return
        }
        do {
            let text = try FileReading.readText(path)
            let reloaded = try options.parse(text, path, FileReading.confFiles(in:))
            do {
                let policy = try SecurityFiles.policy(for: reloaded)
                server.updateSecurity(policy)
                logger.notice("SIGHUP: security reloaded: \(SecurityFiles.summary(policy))")
                for warning in SecurityFiles.listenersAdmittingNobody(listenerSettings, policy: policy) {
                    logger.warning("SIGHUP: \(warning)")
                }
            } catch {
                logger.error("SIGHUP: security files not reloaded, the previous ones stay in force: \(error)")
            }
            if let bridge = reloaded.bridges.first(where: { $0.unsupportedOption != nil }) {
                logger.error("SIGHUP: configuration not applied: connection \(bridge.name): \(bridge.unsupportedOption!) is not supported yet")
                return
            }
            try bridges.apply(reloaded.bridges)
            logger.notice("SIGHUP: configuration reloaded", metadata: ["bridges": "\(reloaded.bridges.count)"])
        } catch {
            logger.error("SIGHUP: configuration not applied: \(error)")
        }
    }
}
