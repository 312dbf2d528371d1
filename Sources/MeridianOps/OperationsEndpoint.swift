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

    /// A gauge another tier adds to `/metrics`: one series, or one per value of a label.
    public struct ExtraGauge: Sendable {
        public var name: String
        public var help: String
        /// The label that tells the series apart (a region node: `peer`); nil for one series.
        public var label: String?
        /// Each series' value by label value (for one series: the value under "").
        public var values: @Sendable () -> [String: Double]

        public init(name: String, help: String, value: @escaping @Sendable () -> Double) {
            self.name = name
            self.help = help
            self.label = nil
            self.values = { ["": value()] }
        }

        /// A family of series, one per label value `values` returns at each scrape (a series whose
        /// label value is gone is removed).
        public init(name: String, help: String, label: String, values: @escaping @Sendable () -> [String: Double]) {
            self.name = name
            self.help = help
            self.label = label
            self.values = values
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

    /// A latency histogram another tier adds to `/metrics` (a region node: its etcd requests).
    /// - Returns: the function that records one duration; it may be called from any thread.
    public func durationHistogram(name: String, help: String, buckets: [Duration]) -> @Sendable (Duration) -> Void {
        let histogram = registry.makeDurationHistogram(
            descriptor: PrometheusCollectorRegistry.descriptor(name, help), buckets: buckets)
        return { histogram.record($0) }
    }

    /// Binds the HTTP port. Throws if it cannot be bound.
    /// - Returns: the port bound (useful with port 0).
    @discardableResult
    public func start(sources: Sources, host: String, port: Int) throws -> Int {
        let extraGauges = ExtraGaugeSeries(registry: registry, gauges: sources.gauges)
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
    func scrape(_ sources: Sources, extraGauges: ExtraGaugeSeries? = nil) -> EventLoopFuture<String> {
        sources.bridges.statuses().flatMap { [self] statuses in
            let bridgeClients = Set(statuses.map(\.localClientID))
            return sources.server.metrics(bridgeClients: bridgeClients).map { [self] metrics in
                brokerFamilies.update(metrics)
                bridgeFamilies.update(statuses)
                storeFamilies.update(statistics: sources.store?.statistics, directory: sources.storeDirectory)
                extraGauges?.update()
                return registry.emitToString()
            }
        }
    }
}

/// The series of the extra gauges, created as their label values appear and removed when they go.
/// Updated on the scrape loop only.
final class ExtraGaugeSeries: @unchecked Sendable {
    private let registry: PrometheusCollectorRegistry
    private let gauges: [OperationsEndpoint.ExtraGauge]
    private var series: [[String: Gauge]]

    init(registry: PrometheusCollectorRegistry, gauges: [OperationsEndpoint.ExtraGauge]) {
        self.registry = registry
        self.gauges = gauges
        self.series = gauges.map { gauge in
            // A gauge of one series is there from the start, so a scrape before any update shows it.
            gauge.label == nil ? ["": registry.gauge(gauge.name, gauge.help)] : [:]
        }
    }

    func update() {
        for (index, gauge) in gauges.enumerated() {
            let values = gauge.values()
            for (key, old) in series[index] where values[key] == nil {
                registry.unregisterGauge(old)
                series[index][key] = nil
            }
            for (key, value) in values {
                let series = self.series[index][key] ?? {
                    let made = gauge.label.map { registry.gauge(gauge.name, gauge.help, [($0, key)]) } ?? registry.gauge(gauge.name, gauge.help)
                    self.series[index][key] = made
                    return made
                }()
                series.set(to: value)
            }
        }
    }
}
