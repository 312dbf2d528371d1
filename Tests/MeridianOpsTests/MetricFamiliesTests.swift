import MeridianBroker
import Prometheus
import Testing

@testable import MeridianBridge
@testable import MeridianOps

@Suite("Metric families")
struct MetricFamiliesTests {
    static func lines(_ registry: PrometheusCollectorRegistry) -> Set<String> {
        Set(registry.emitToString().split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
    }

    @Test("broker figures become counters and gauges; counters mirror the broker's totals")
    func brokerFigures() {
        let registry = PrometheusCollectorRegistry()
        let families = BrokerMetricFamilies(registry: registry)
        var metrics = BrokerMetrics()
        metrics.connectionsCurrent = 3
        metrics.connectionsTotal = 7
        metrics.publishesReceived = [2, 5, 0]
        metrics.payloadBytesSent = [10, 0, 4]
        metrics.refusals = ["max_connections": 2]
        metrics.drops = ["queue_full": 4]
        metrics.queuedMessages = ["device": 6, "bridge": 1]
        families.update(metrics)
        metrics.connectionsTotal = 9
        families.update(metrics)
        let lines = Self.lines(registry)
        for expected in [
            "meridian_clients_connected 3.0", "meridian_connections_total 9",
            "meridian_messages_received_total{qos=\"0\"} 2", "meridian_messages_received_total{qos=\"1\"} 5",
            "meridian_message_payload_sent_bytes_total{qos=\"2\"} 4",
            "meridian_connection_refusals_total{reason=\"max_connections\"} 2",
            "meridian_connection_refusals_total{reason=\"not_authorized\"} 0",
            "meridian_messages_dropped_total{reason=\"queue_full\"} 4",
            "meridian_queued_messages{class=\"device\"} 6.0", "meridian_queued_messages{class=\"bridge\"} 1.0",
        ] {
            #expect(lines.contains(expected), "\(expected) not in \(lines.sorted())")
        }
    }

    @Test("a bridge's series appear with it and go when it is removed")
    func bridgeSeries() {
        let registry = PrometheusCollectorRegistry()
        let families = BridgeMetricFamilies(registry: registry)
        var status = HealthCheckTests.bridge("cloud", connected: true)
        status.queuedMessages = 12
        status.reconnects = 3
        status.oldestQueuedAge = 2.5
        families.update([status])
        let lines = Self.lines(registry)
        #expect(lines.contains("meridian_bridge_connected{bridge=\"cloud\"} 1.0"))
        #expect(lines.contains("meridian_bridge_queued_messages{bridge=\"cloud\"} 12.0"))
        #expect(lines.contains("meridian_bridge_reconnects_total{bridge=\"cloud\"} 3"))
        #expect(lines.contains("meridian_bridge_oldest_queued_message_age_seconds{bridge=\"cloud\"} 2.5"))
        families.update([])
        #expect(!registry.emitToString().contains("cloud"))
    }
}
