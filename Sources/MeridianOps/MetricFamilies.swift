import Prometheus

/// Thin helpers over swift-prometheus: full Prometheus names, help text, and counters that
/// mirror a total the broker already keeps.
extension PrometheusCollectorRegistry {
    func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
        makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
    }

    func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
        makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
    }

    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

extension Counter {
    /// Makes the counter show `total`, a monotonic count kept elsewhere (read at scrape time).
    ///
    /// Scrapes are serialised on one event loop, so no reader sees the value between the
    /// reset and the increment.
    func mirror(_ total: Int) {
        reset()
        increment(by: Int64(max(0, total)))
    }
}

extension Gauge {
    func set(_ value: Int) { set(to: Double(value)) }
    func set(_ flag: Bool) { set(to: flag ? 1 : 0) }
}
