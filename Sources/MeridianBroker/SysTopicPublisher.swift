import MeridianBrokerCore
import MeridianMQTT
import NIOCore

/// Publishes `$SYS/broker/...` statistics as retained messages, with Mosquitto's topic names.
struct SysTopicPublisher {
    let server: BrokerServer

    func publish() {
        let contexts = server.contexts
        let loop = contexts[0]
        let futures = contexts.map { context in context.eventLoop.submit { context.counters.snapshot } }
        EventLoopFuture.whenAllSucceed(futures, on: loop.eventLoop).whenSuccess { snapshots in
            let totals = snapshots.reduce(LoopCounters.Snapshot(), +)
            let broker = server.broker
            let stats = broker.statistics
            let now = server.clock.now
            let uptime = (now.uptimeNanoseconds - broker.startedAt.uptimeNanoseconds) / 1_000_000_000
            let values: [(String, String)] = [
                ("version", "meridian-edge \(server.configuration.version)"),
                ("uptime", "\(uptime) seconds"),
                ("clients/connected", "\(stats.connected)"),
                ("clients/active", "\(stats.connected)"),
                ("clients/disconnected", "\(max(0, stats.sessions - stats.connected))"),
                ("clients/inactive", "\(max(0, stats.sessions - stats.connected))"),
                ("clients/total", "\(stats.sessions)"),
                ("clients/maximum", "\(stats.maximum)"),
                // Meridian: CONNECTs refused by authentication.
                ("clients/auth_failures", "\(totals.authFailures)"),
                ("messages/received", "\(totals.messagesReceived)"),
                ("messages/sent", "\(totals.messagesSent)"),
                ("publish/messages/received", "\(totals.publishReceived)"),
                ("publish/messages/sent", "\(totals.publishSent)"),
                ("publish/messages/dropped", "\(stats.drops)"),
                // Meridian: QoS 1/2 publishes refused because they could not be queued or stored (0x97).
                ("publish/messages/refused", "\(totals.storeRefusals)"),
                // Meridian: publishes over max_publish_rate, and publishes the ACL denied.
                ("publish/messages/rate_limited", "\(totals.rateLimited)"),
                ("publish/messages/denied", "\(totals.publishDenied)"),
                ("bytes/received", "\(totals.bytesReceived)"),
                ("bytes/sent", "\(totals.bytesSent)"),
                ("subscriptions/count", "\(stats.subscriptions)"),
                ("retained messages/count", "\(stats.retained)"),
                ("store/messages/count", "\(stats.retained)"),
            ]
            for (name, value) in values {
                let message = BrokerMessage(
                    topic: "$SYS/broker/" + name, payload: ByteBuffer(string: value), qos: .atMostOnce, retain: true
                )
                broker.route(message, via: loop, now: now)
            }
            loop.flush()
        }
    }
}
