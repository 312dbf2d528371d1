import MeridianBrokerCore
import MeridianMQTT
import NIOCore

/// The broker's figures at one moment, for the operations endpoint (`/metrics`).
///
/// Gathered at scrape time from what the broker keeps anyway for `$SYS` (each event loop's
/// plain counters, the broker's statistics under its lock), so that metrics cost nothing on
/// the routing path.
public struct BrokerMetrics: Sendable {
    /// Per-QoS figures, indexed by QoS (0, 1, 2).
    public typealias ByQoS = [Int]

    public var connectionsCurrent = 0
    public var connectionsTotal = 0
    public var connectionsMaximum = 0
    public var sessions = 0
    public var subscriptions = 0
    public var retainedMessages = 0
    /// Connections refused, by reason label (`ConnectionRefusal`).
    public var refusals: [String: Int] = [:]
    /// Messages dropped, by reason label.
    public var drops: [String: Int] = [:]
    /// MQTT packets and their bytes, all types.
    public var packetsReceived = 0, packetsSent = 0, bytesReceived = 0, bytesSent = 0
    /// PUBLISH packets and payload bytes by QoS.
    public var publishesReceived: ByQoS = [0, 0, 0], publishesSent: ByQoS = [0, 0, 0]
    public var payloadBytesReceived: ByQoS = [0, 0, 0], payloadBytesSent: ByQoS = [0, 0, 0]
    /// QoS 1/2 publishes refused because they could not be queued or stored (0x97).
    public var publishesRefused = 0
    /// Messages queued in sessions (not yet in flight), by client class: `device`, `bridge`.
    public var queuedMessages: [String: Int] = [:]
    public var queuedBytes: [String: Int] = [:]
    /// Messages sent and not yet acknowledged, by client class.
    public var inflightMessages: [String: Int] = [:]
    /// Whether the store's file system is below `persistence_min_free`.
    public var diskLow = false
    public var uptimeSeconds = 0.0

    public init() {}
}

/// Labels of connection refusals in metrics and logs.
public enum ConnectionRefusal {
    public static let maxConnections = "max_connections"
    public static let connectTimeout = "connect_timeout"
    public static let shuttingDown = "shutting_down"
    /// The client id is a session of another username (I8).
    public static let sessionOwnedByOtherUser = "session_owned_by_other_user"

    /// The label of a CONNACK refusal.
    public static func label(for reason: MQTTReasonCode) -> String {
        switch reason {
        case .unsupportedProtocolVersion: return "unsupported_protocol_version"
        case .clientIdentifierNotValid: return "client_identifier_not_valid"
        case .badUserNameOrPassword: return "bad_username_or_password"
        case .notAuthorized: return "not_authorized"
        case .banned: return "banned"
        case .badAuthenticationMethod: return "bad_authentication_method"
        case .serverUnavailable: return "server_unavailable"
        case .serverBusy: return "server_busy"
        case .serverMoved: return "server_moved"
        case .useAnotherServer: return "use_another_server"
        case .connectionRateExceeded: return "connection_rate_exceeded"
        case .quotaExceeded: return "quota_exceeded"
        case .protocolError: return "protocol_error"
        case .malformedPacket: return "malformed_packet"
        default: return "reason_\(reason.rawValue)"
        }
    }
}

extension DropReason {
    /// The label of this reason in metrics.
    public var label: String {
        switch self {
        case .queueFull: return "queue_full"
        case .offlineQoS0: return "offline_qos0"
        case .expired: return "expired"
        case .tooLarge: return "too_large"
        case .noSubscriber: return "no_subscriber"
        case .diskFloor: return "disk_floor"
        case .slowSubscriber: return "slow_subscriber"
        case .loop: return "loop"
        case .notAuthorized: return "not_authorized"
        }
    }
}

extension Broker {
    func recordRefusal(_ label: String) {
        lock.withLock { refusals[label, default: 0] += 1 }
    }
}

extension BrokerServer {
    /// Whether the store's file system is below `persistence_min_free` (checked every second).
    public var storeDiskLow: Bool { broker.diskLow.withLockedValue { $0 } }

    /// The broker's figures now. Runs one task on every event loop to read its counters.
    ///
    /// - Parameter bridgeClients: client identifiers of bridges' local sessions, counted as
    ///   class `bridge` in the queue figures; every other session is a `device`.
    public func metrics(bridgeClients: Set<String>) -> EventLoopFuture<BrokerMetrics> {
        let loop = contexts[0].eventLoop
        let futures = contexts.map { context in context.eventLoop.submit { context.counters.snapshot } }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { [self] snapshots in
            let totals = snapshots.reduce(LoopCounters.Snapshot(), +)
            var metrics = broker.metricsSnapshot(bridgeClients: bridgeClients)
            metrics.packetsReceived = totals.messagesReceived
            metrics.packetsSent = totals.messagesSent
            metrics.bytesReceived = totals.bytesReceived
            metrics.bytesSent = totals.bytesSent
            let qos = totals.publishesByQoS
            metrics.publishesReceived = [qos.received.0, qos.received.1, qos.received.2]
            metrics.publishesSent = [qos.sent.0, qos.sent.1, qos.sent.2]
            metrics.payloadBytesReceived = [qos.receivedBytes.0, qos.receivedBytes.1, qos.receivedBytes.2]
            metrics.payloadBytesSent = [qos.sentBytes.0, qos.sentBytes.1, qos.sentBytes.2]
            metrics.publishesRefused = totals.storeRefusals
            metrics.diskLow = broker.diskLow.withLockedValue { $0 }
            let now = clock.now
            metrics.uptimeSeconds = Double((now - broker.startedAt).nanoseconds) / 1e9
            return metrics
        }
    }
}

extension Broker {
    /// Statistics under the lock; walks every session for the queue figures (scrape time only).
    func metricsSnapshot(bridgeClients: Set<String>) -> BrokerMetrics {
        var metrics = BrokerMetrics()
        let handles: [SessionHandle] = lock.withLock {
            metrics.connectionsCurrent = connectedCount
            metrics.connectionsTotal = totalConnections
            metrics.connectionsMaximum = maximumConnected
            metrics.sessions = sessions.count
            metrics.refusals = refusals
            for reason in DropReason.allCases { metrics.drops[reason.label] = drops[reason, default: 0] }
            return Array(sessions.values)
        }
        metrics.subscriptions = subscriptionCount
        metrics.retainedMessages = retainedCount
        for kind in ["device", "bridge"] {
            metrics.queuedMessages[kind] = 0
            metrics.queuedBytes[kind] = 0
            metrics.inflightMessages[kind] = 0
        }
        for handle in handles {
            let kind = bridgeClients.contains(handle.clientIdentifier) ? "bridge" : "device"
            let (queued, bytes, inflight) = handle.lock.withLock {
                (handle.flow.queuedCount, handle.flow.queuedBytes, handle.flow.inflight.count)
            }
            metrics.queuedMessages[kind, default: 0] += queued
            metrics.queuedBytes[kind, default: 0] += bytes
            metrics.inflightMessages[kind, default: 0] += inflight
        }
        return metrics
    }
}
