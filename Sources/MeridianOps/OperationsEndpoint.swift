import Logging
import MeridianBridge
import MeridianBroker
import MeridianStore
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// The operations endpoint of `meridian-edge`: Prometheus metrics, health and readiness over
/// plain HTTP (`http_listener`), served on the broker's own event loops.
///
/// Create it before the store opens, so that the store can feed ``observeCommit``; then
/// ``start(host:port:)`` once the broker and bridges run.
public final class OperationsEndpoint: @unchecked Sendable {
    /// What the endpoint reads; set once before ``start(host:port:)``.
    public struct Sources: Sendable {
        public var server: BrokerServer
        public var bridges: BridgeSupervisor
        public var store: SQLiteStore?
        public var storeDirectory: String?
        public var readyRequiresBridge: Bool
        /// Further readiness checks (a region node: not fenced): each says whether it passes, and its line.
        public var readinessChecks: [@Sendable () -> (ok: Bool, line: String)]
        /// Further `GET` paths answered with JSON (a region node: `/cluster`).
        public var jsonRoutes: [String: @Sendable () -> String]
        /// Further gauges, read at each scrape (a region node: members alive, fenced).
        public var gauges: [ExtraGauge]

        public init(
            server: BrokerServer, bridges: BridgeSupervisor, store: SQLiteStore?, storeDirectory: String?,
            readyRequiresBridge: Bool, readinessChecks: [@Sendable () -> (ok: Bool, line: String)] = [],
            jsonRoutes: [String: @Sendable () -> String] = [:], gauges: [ExtraGauge] = []
        ) {
            self.server = server
            self.bridges = bridges
            self.store = store
            self.storeDirectory = storeDirectory
            self.readyRequiresBridge = readyRequiresBridge
            self.readinessChecks = readinessChecks
            self.jsonRoutes = jsonRoutes
            self.gauges = gauges
        }
    }

    /// A gauge another tier adds to `/metrics`.
    public struct ExtraGauge: Sendable {
        public var name: String
        public var help: String
        public var value: @Sendable () -> Double

        public init(name: String, help: String, value: @escaping @Sendable () -> Double) {
            self.name = name
            self.help = help
            self.value = value
        }
    }

    public let registry = PrometheusCollectorRegistry()
    private let brokerFamilies: BrokerMetricFamilies
    private let bridgeFamilies: BridgeMetricFamilies
    private let storeFamilies: StoreMetricFamilies
    private let logger: Logger
    private var channel: Channel?

    public init(version: String, logger: Logger) {
        self.logger = logger
        brokerFamilies = BrokerMetricFamilies(registry: registry)
        bridgeFamilies = BridgeMetricFamilies(registry: registry)
        storeFamilies = StoreMetricFamilies(registry: registry)
        registry.gauge("meridian_build_info", "Always 1; the version is a label.", [("version", version)]).set(to: 1)
    }

    /// Records one store commit's duration (called by the store's writer thread, once per batch).
    public var observeCommit: SQLiteStore.CommitObserver {
        let histogram = storeFamilies.commitDuration
        return { duration, _ in histogram.record(duration) }
    }

    /// Binds the HTTP port. Throws if it cannot be bound.
    /// - Returns: the port bound (useful with port 0).
    @discardableResult
    public func start(sources: Sources, host: String, port: Int) throws -> Int {
        let extraGauges = sources.gauges.map { (registry.gauge($0.name, $0.help), $0.value) }
        var routes: [String: OperationsHTTPHandler.Route] = [
            "/metrics": { [self] _ in
                scrape(sources, extraGauges: extraGauges).map { .init(status: .ok, contentType: Self.prometheusTextFormat, body: $0) }
            },
            "/healthz": { [self] loop in loop.makeSucceededFuture(Self.response(health(sources))) },
            "/readyz": { [self] _ in readiness(sources).map { Self.response($0) } },
        ]
        for (path, body) in sources.jsonRoutes {
            routes[path] = { loop in loop.makeSucceededFuture(.init(status: .ok, contentType: "application/json", body: body())) }
        }
        let bootstrap = ServerBootstrap(group: sources.server.eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(OperationsHTTPHandler(routes: routes))
                }
            }
        let channel = try bootstrap.bind(host: host, port: port).wait()
        self.channel = channel
        let bound = channel.localAddress?.port ?? port
        let paths = (["/metrics", "/healthz", "/readyz"] + sources.jsonRoutes.keys.sorted()).joined(separator: " ")
        logger.notice("operations endpoint listening", metadata: ["address": "\(host):\(bound)", "paths": "\(paths)"])
        return bound
    }

    public func shutdown() {
        try? channel?.close().wait()
        channel = nil
    }

    /// The content type of the Prometheus text exposition format.
    static let prometheusTextFormat = "text/plain; version=0.0.4; charset=utf-8"

    private static func response(_ report: HealthReport) -> OperationsHTTPHandler.Response {
        .init(status: report.ok ? .ok : .serviceUnavailable, body: report.body)
    }

    private static func storeState(_ sources: Sources) -> HealthCheck.StoreState? {
        sources.store.map {
            .init(open: $0.isOpen, statistics: $0.statistics, secondsSinceFailure: $0.secondsSinceLastFailedCommit)
        }
    }

    func health(_ sources: Sources) -> HealthReport {
        HealthCheck.health(store: Self.storeState(sources), diskLow: sources.server.storeDiskLow)
    }

    /// The bridges are those running now: every configured one (start-up fails otherwise), and
    /// after a reload (SIGHUP) the reloaded set.
    func readiness(_ sources: Sources) -> EventLoopFuture<HealthReport> {
        sources.bridges.statuses().map { statuses in
            var report = HealthCheck.readiness(
                listening: sources.server.isListening, store: Self.storeState(sources),
                diskLow: sources.server.storeDiskLow, requireBridges: sources.readyRequiresBridge,
                bridgeNames: statuses.map(\.name), bridges: statuses
            )
            for check in sources.readinessChecks {
                let (ok, line) = check()
                report.ok = report.ok && ok
                report.lines.append(line)
            }
            return report
        }
    }

    /// Reads every figure and renders the registry. Updates and rendering run in one callback
    /// on the first event loop, so concurrent scrapes never interleave.
    func scrape(_ sources: Sources, extraGauges: [(Gauge, @Sendable () -> Double)] = []) -> EventLoopFuture<String> {
        sources.bridges.statuses().flatMap { [self] statuses in
            let bridgeClients = Set(statuses.map(\.localClientID))
            return sources.server.metrics(bridgeClients: bridgeClients).map { [self] metrics in
                brokerFamilies.update(metrics)
                bridgeFamilies.update(statuses)
                storeFamilies.update(statistics: sources.store?.statistics, directory: sources.storeDirectory)
                for (gauge, value) in extraGauges { gauge.set(to: value()) }
                return registry.emitToString()
            }
        }
    }
}
