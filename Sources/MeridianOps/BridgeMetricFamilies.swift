import MeridianBridge
import Prometheus

/// The per-bridge series of `/metrics` (label `bridge`), created when a bridge first appears
/// and removed when a reload (SIGHUP) removes the bridge.
final class BridgeMetricFamilies {
    private struct Series {
        var gauges: [Gauge]
        var counters: [Counter]
    }

    private let registry: PrometheusCollectorRegistry
    private var series: [String: Series] = [:]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Call on the scrape loop only.
    func update(_ statuses: [BridgeStatus]) {
        let names = Set(statuses.map(\.name))
        for (name, old) in series where !names.contains(name) {
            old.gauges.forEach(registry.unregisterGauge)
            old.counters.forEach(registry.unregisterCounter)
            series[name] = nil
        }
        for status in statuses {
            let s = series[status.name] ?? makeSeries(status.name)
            series[status.name] = s
            s.gauges[0].set(status.connected)
            s.gauges[1].set(status.queuedMessages)
            s.gauges[2].set(status.queuedBytes)
            s.gauges[3].set(status.inflight)
            s.gauges[4].set(to: status.oldestQueuedAge)
            s.counters[0].mirror(status.forwarded)
            s.counters[1].mirror(status.received)
            s.counters[2].mirror(status.refusedByRemote)
            s.counters[3].mirror(status.dropped)
            s.counters[4].mirror(status.reconnects)
        }
    }

    private func makeSeries(_ name: String) -> Series {
        let labels = [("bridge", name)]
        let r = registry
        return Series(
            gauges: [
                r.gauge("meridian_bridge_connected", "1 while the bridge is connected to its remote, else 0.", labels),
                r.gauge("meridian_bridge_queued_messages", "Messages waiting for the remote (outbox plus unacknowledged).", labels),
                r.gauge("meridian_bridge_queued_bytes", "Approximate bytes of the messages queued in the bridge's outbox.", labels),
                r.gauge("meridian_bridge_inflight_messages", "Messages sent to the remote and not yet acknowledged.", labels),
                r.gauge(
                    "meridian_bridge_oldest_queued_message_age_seconds",
                    "Seconds the oldest message waiting for the remote has waited (recovered ones: since the restart).",
                    labels),
            ],
            counters: [
                r.counter("meridian_bridge_forwarded_messages_total", "Messages forwarded to the remote and acknowledged.", labels),
                r.counter("meridian_bridge_received_messages_total", "Messages received from the remote.", labels),
                r.counter("meridian_bridge_refused_messages_total", "Messages the remote refused with a reason code.", labels),
                r.counter("meridian_bridge_dropped_messages_total", "Messages dropped from the bridge's outbox (queue full, expired, too large, disk floor).", labels),
                r.counter("meridian_bridge_reconnects_total", "Reconnections to the remote since the bridge started.", labels),
            ]
        )
    }
}
