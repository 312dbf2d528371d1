import MeridianBroker
import Prometheus

/// The broker-wide series of `/metrics`, updated from a ``BrokerMetrics`` at each scrape.
struct BrokerMetricFamilies {
    let clientsConnected: Gauge
    let clientsConnectedPeak: Gauge
    let connections: Counter
    let sessions: Gauge
    let subscriptions: Gauge
    let retained: Gauge
    let packetsReceived: Counter
    let packetsSent: Counter
    let bytesReceived: Counter
    let bytesSent: Counter
    let messagesReceived: [Counter]
    let messagesSent: [Counter]
    let payloadReceived: [Counter]
    let payloadSent: [Counter]
    let refusedPublishes: Counter
    let diskLow: Gauge
    let uptime: Gauge
    let registry: PrometheusCollectorRegistry
    static let clientClasses = ["device", "bridge"]
    /// Refusal reasons shown from the start, at 0, so that `rate()` sees their first increase.
    static let commonRefusals = [
        ConnectionRefusal.maxConnections, ConnectionRefusal.connectTimeout, ConnectionRefusal.shuttingDown,
        "not_authorized", "client_identifier_not_valid", "bad_username_or_password", "unsupported_protocol_version",
    ]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        let r = registry
        clientsConnected = r.gauge("meridian_clients_connected", "Clients connected now.")
        clientsConnectedPeak = r.gauge("meridian_clients_connected_peak", "Most clients connected at once since start.")
        connections = r.counter("meridian_connections_total", "Connections accepted (CONNACK success) since start.")
        sessions = r.gauge("meridian_sessions", "Sessions held, connected or not.")
        subscriptions = r.gauge("meridian_subscriptions", "Subscriptions held.")
        retained = r.gauge("meridian_retained_messages", "Retained messages held.")
        packetsReceived = r.counter("meridian_packets_received_total", "MQTT packets received, all types.")
        packetsSent = r.counter("meridian_packets_sent_total", "MQTT packets sent, all types.")
        bytesReceived = r.counter("meridian_network_received_bytes_total", "Bytes of MQTT traffic received.")
        bytesSent = r.counter("meridian_network_sent_bytes_total", "Bytes of MQTT traffic sent.")
        let qos = (0...2).map { [("qos", "\($0)")] }
        messagesReceived = qos.map { r.counter("meridian_messages_received_total", "PUBLISH packets received, by QoS.", $0) }
        messagesSent = qos.map { r.counter("meridian_messages_sent_total", "PUBLISH packets sent, by QoS.", $0) }
        payloadReceived = qos.map {
            r.counter("meridian_message_payload_received_bytes_total", "Payload bytes of PUBLISH packets received, by QoS.", $0)
        }
        payloadSent = qos.map {
            r.counter("meridian_message_payload_sent_bytes_total", "Payload bytes of PUBLISH packets sent, by QoS.", $0)
        }
        refusedPublishes = r.counter(
            "meridian_messages_refused_total", "QoS 1/2 publishes refused (0x97) because they could not be queued or stored.")
        diskLow = r.gauge("meridian_store_disk_low", "1 while the store's file system is below persistence_min_free.")
        uptime = r.gauge("meridian_uptime_seconds", "Seconds since the broker started.")
    }

    func update(_ m: BrokerMetrics) {
        clientsConnected.set(m.connectionsCurrent)
        clientsConnectedPeak.set(m.connectionsMaximum)
        connections.mirror(m.connectionsTotal)
        sessions.set(m.sessions)
        subscriptions.set(m.subscriptions)
        retained.set(m.retainedMessages)
        packetsReceived.mirror(m.packetsReceived)
        packetsSent.mirror(m.packetsSent)
        bytesReceived.mirror(m.bytesReceived)
        bytesSent.mirror(m.bytesSent)
        for qos in 0...2 {
            messagesReceived[qos].mirror(m.publishesReceived[qos])
            messagesSent[qos].mirror(m.publishesSent[qos])
            payloadReceived[qos].mirror(m.payloadBytesReceived[qos])
            payloadSent[qos].mirror(m.payloadBytesSent[qos])
        }
        refusedPublishes.mirror(m.publishesRefused)
        diskLow.set(m.diskLow)
        uptime.set(to: m.uptimeSeconds)
        // Labelled families whose label values appear as they happen; creating returns the existing series.
        var refusals = m.refusals
        for reason in Self.commonRefusals where refusals[reason] == nil { refusals[reason] = 0 }
        for (reason, count) in refusals {
            registry.counter("meridian_connection_refusals_total", "Connections refused, by reason.", [("reason", reason)])
                .mirror(count)
        }
        for (reason, count) in m.drops {
            registry.counter("meridian_messages_dropped_total", "Messages dropped, by reason.", [("reason", reason)])
                .mirror(count)
        }
        for kind in Self.clientClasses {
            let labels = [("class", kind)]
            registry.gauge("meridian_queued_messages", "Messages queued in sessions, by client class (device, bridge).", labels)
                .set(m.queuedMessages[kind] ?? 0)
            registry.gauge("meridian_queued_bytes", "Approximate bytes of messages queued in sessions, by client class.", labels)
                .set(m.queuedBytes[kind] ?? 0)
            registry.gauge("meridian_inflight_messages", "Messages sent and not yet acknowledged, by client class.", labels)
                .set(m.inflightMessages[kind] ?? 0)
        }
    }
}
