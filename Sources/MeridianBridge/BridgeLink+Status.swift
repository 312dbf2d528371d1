import MeridianBroker
import MeridianBrokerCore
import MeridianMQTT
import NIOCore

/// Per-bridge figures under `$SYS/broker/bridge/<name>/`, published retained through the bridge's
/// local client every `sys_interval` (No Local keeps them off this bridge's own `out` rules).
extension BridgeLink {
    func startStatus() {
        let interval = Int64(server.sysInterval)
        guard interval > 0 else { return }
        var lastForwarded = forwarded
        statusTask = loop.scheduleRepeatedTask(initialDelay: .seconds(interval), delay: .seconds(interval)) { [self] _ in
            guard localReady, let local else { return }
            let queue = server.queueStatistics(clientIdentifier: localClientID)
            let drainedPerSecond = (forwarded - lastForwarded) / Int(interval)
            lastForwarded = forwarded
            var figures: [(String, String)] = [
                ("connected", remoteReady ? "1" : "0"),
                // Queued in the store plus held by the bridge and not yet acknowledged by the remote.
                ("queued/messages", "\((queue?.queued ?? 0) + (queue?.inflight ?? 0))"),
                ("queued/bytes", "\(queue?.queuedBytes ?? 0)"),
                // Seconds the oldest message not yet acknowledged by the remote has waited (from the restart, if older).
                ("queued/oldest_age", "\(Int(server.oldestWaitingAge(clientIdentifier: localClientID) ?? 0))"),
                ("inflight", "\(forwarding.inFlightCount)"),
                ("messages/forwarded", "\(forwarded)"),
                ("messages/received", "\(received)"),
                ("messages/refused", "\(refusedByRemote)"),
                ("messages/dropped", "\(drops.values.reduce(0, +))"),
                ("drained/per_second", "\(drainedPerSecond)"),
                ("reconnects", "\(reconnects)"),
            ]
            let drops = self.drops
            // Drops by reason: queue_full, expired, too_large, disk_floor, ...
            figures += DropReason.allCases.map { ("messages/dropped/\($0.label)", "\(drops[$0] ?? 0)") }
            for (name, value) in figures {
                local.send(.publish(MQTTPublish(
                    topic: "$SYS/broker/bridge/\(settings.name)/\(name)", payload: ByteBuffer(string: value),
                    qos: .atMostOnce, retain: true)))
            }
            local.flush()
        }
    }
}
