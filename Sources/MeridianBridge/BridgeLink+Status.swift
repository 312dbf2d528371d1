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
            let figures: [(String, String)] = [
                ("connected", remoteReady ? "1" : "0"),
                // Queued in the store plus held by the bridge and not yet acknowledged by the remote.
                ("queued/messages", "\((queue?.queued ?? 0) + (queue?.inflight ?? 0))"),
                ("queued/bytes", "\(queue?.queuedBytes ?? 0)"),
                // Seconds the oldest message not yet acknowledged by the remote has waited (from the restart, if older).
                ("queued/oldest_age", "\((server.oldestQueuedAge(clientIdentifier: localClientID)?.nanoseconds ?? 0) / 1_000_000_000)"),
                ("inflight", "\(inflight.count)"),
                ("messages/forwarded", "\(forwarded)"),
                ("messages/received", "\(received)"),
                ("messages/refused", "\(refusedByRemote)"),
                ("messages/dropped", "\(dropped)"),
                ("drained/per_second", "\(drainedPerSecond)"),
                ("reconnects", "\(reconnects)"),
            ]
            for (name, value) in figures {
                local.send(.publish(MQTTPublish(
                    topic: "$SYS/broker/bridge/\(settings.name)/\(name)", payload: ByteBuffer(string: value),
                    qos: .atMostOnce, retain: true)))
            }
            local.flush()
        }
    }
}
