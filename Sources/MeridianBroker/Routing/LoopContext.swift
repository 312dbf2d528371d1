import MeridianBrokerCore
import MeridianMQTT
import NIOCore

/// Per-event-loop delivery state, used only on its own loop.
///
/// Deliveries to targets on this loop are written at once and flushed once per read batch;
/// deliveries to targets on other loops are collected and handed over with one
/// `execute` per loop and batch (PERFORMANCE.md: "cross-loop delivery in batches").
final class LoopContext {
    let eventLoop: EventLoop
    let index: Int
    /// The broker's clock: every decision on this loop reads the time here.
    let clock: any MonotonicClock
    var now: NIODeadline { clock.now }
    /// Filled in once all contexts exist.
    var peers: [LoopContext] = []
    private enum Handover {
        case publish(any DeliveryTarget, MQTTPublish)
        case drain(any DeliveryTarget)
    }

    private var pending: [[Handover]]
    private var dirty: [any DeliveryTarget] = []
    let counters = LoopCounters()
    /// This loop's matches of the shared subscription tree (read under the broker's read lock).
    var matchCache = MatchCache<SessionHandle>()
    /// The keep-alive checks of this loop's connections, on one timer.
    private(set) lazy var keepAliveTimers = KeepAliveTimers(eventLoop: eventLoop, clock: clock)
    /// Numbers the messages routed from this loop: the loop index in the top byte, a count below.
    private var lastMessageSequence: UInt64 = 0

    func nextMessageSequence() -> UInt64 {
        lastMessageSequence &+= 1
        return UInt64(truncatingIfNeeded: index + 1) << 56 | (lastMessageSequence & 0x00FF_FFFF_FFFF_FFFF)
    }

    init(eventLoop: EventLoop, index: Int, loopCount: Int, clock: any MonotonicClock) {
        self.clock = clock
        self.eventLoop = eventLoop
        self.index = index
        self.pending = Array(repeating: [], count: loopCount)
    }

    /// Sends `publish` to `target`, now if it lives on this loop, else at the next `flush()`.
    func send(_ publish: MQTTPublish, to target: any DeliveryTarget) {
        let loop = target.loopIndex
        if loop == index {
            target.deliver(publish)
        } else {
            pending[loop].append(.publish(target, publish))
        }
    }

    /// Asks the target's own loop to send what its session queued (see `OutboundFlow.offer`).
    func scheduleDrain(of target: any DeliveryTarget) {
        pending[target.loopIndex].append(.drain(target))
    }

    /// Marks a target of this loop as having unflushed writes.
    func markDirty(_ target: any DeliveryTarget) {
        dirty.append(target)
    }

    /// Flushes this loop's written connections and hands other loops their batches.
    func flush() {
        for target in 0..<pending.count where !pending[target].isEmpty {
            let batch = pending[target]
            pending[target].removeAll(keepingCapacity: true)
            let peer = peers[target]
            peer.eventLoop.execute {
                for item in batch {
                    switch item {
                    case .publish(let target, let publish): target.deliver(publish)
                    case .drain(let target): target.drainSession()
                    }
                }
                peer.flush()
            }
        }
        if !dirty.isEmpty {
            let targets = dirty
            dirty.removeAll(keepingCapacity: true)
            for target in targets { target.flushIfNeeded() }
        }
    }
}

/// Counters owned by one event loop (plain integers: no atomics on the hot path); `$SYS`
/// gathers them from every loop on its timer.
final class LoopCounters {
    var messagesReceived = 0
    var messagesSent = 0
    var bytesReceived = 0
    var bytesSent = 0
    var publishReceived = 0
    var publishSent = 0
    /// QoS 1/2 messages refused because the store could not commit them.
    var storeRefusals = 0
    /// PUBLISH packets and their payload bytes, by QoS (for `/metrics`).
    var publishesByQoS = QoSCounts()

    /// Counts of PUBLISH packets and payload bytes per QoS, in and out: plain integers.
    struct QoSCounts {
        var received: (Int, Int, Int) = (0, 0, 0)
        var receivedBytes: (Int, Int, Int) = (0, 0, 0)
        var sent: (Int, Int, Int) = (0, 0, 0)
        var sentBytes: (Int, Int, Int) = (0, 0, 0)

        @inline(__always) mutating func countReceived(_ qos: MQTTQoS, bytes: Int) {
            switch qos {
            case .atMostOnce: received.0 += 1; receivedBytes.0 += bytes
            case .atLeastOnce: received.1 += 1; receivedBytes.1 += bytes
            case .exactlyOnce: received.2 += 1; receivedBytes.2 += bytes
            }
        }

        @inline(__always) mutating func countSent(_ qos: MQTTQoS, bytes: Int) {
            switch qos {
            case .atMostOnce: sent.0 += 1; sentBytes.0 += bytes
            case .atLeastOnce: sent.1 += 1; sentBytes.1 += bytes
            case .exactlyOnce: sent.2 += 1; sentBytes.2 += bytes
            }
        }

        static func + (a: QoSCounts, b: QoSCounts) -> QoSCounts {
            func add(_ x: (Int, Int, Int), _ y: (Int, Int, Int)) -> (Int, Int, Int) { (x.0 + y.0, x.1 + y.1, x.2 + y.2) }
            return QoSCounts(
                received: add(a.received, b.received), receivedBytes: add(a.receivedBytes, b.receivedBytes),
                sent: add(a.sent, b.sent), sentBytes: add(a.sentBytes, b.sentBytes)
            )
        }
    }
    /// CONNECTs refused by authentication (anonymous, unknown user, bad password).
    var authFailures = 0
    /// PUBLISHes over the client's `max_publish_rate`.
    var rateLimited = 0
    /// PUBLISHes (and wills) the ACL did not allow.
    var publishDenied = 0

    struct Snapshot {
        var messagesReceived = 0, messagesSent = 0, bytesReceived = 0, bytesSent = 0
        var publishReceived = 0, publishSent = 0, storeRefusals = 0
        var publishesByQoS = QoSCounts()
        var authFailures = 0, rateLimited = 0, publishDenied = 0

        static func + (a: Snapshot, b: Snapshot) -> Snapshot {
            Snapshot(
                messagesReceived: a.messagesReceived + b.messagesReceived,
                messagesSent: a.messagesSent + b.messagesSent,
                bytesReceived: a.bytesReceived + b.bytesReceived,
                bytesSent: a.bytesSent + b.bytesSent,
                publishReceived: a.publishReceived + b.publishReceived,
                publishSent: a.publishSent + b.publishSent,
                storeRefusals: a.storeRefusals + b.storeRefusals,
                publishesByQoS: a.publishesByQoS + b.publishesByQoS,
                authFailures: a.authFailures + b.authFailures,
                rateLimited: a.rateLimited + b.rateLimited,
                publishDenied: a.publishDenied + b.publishDenied
            )
        }
    }

    var snapshot: Snapshot {
        Snapshot(
            messagesReceived: messagesReceived, messagesSent: messagesSent, bytesReceived: bytesReceived,
            bytesSent: bytesSent, publishReceived: publishReceived, publishSent: publishSent, storeRefusals: storeRefusals,
            publishesByQoS: publishesByQoS,
            authFailures: authFailures, rateLimited: rateLimited, publishDenied: publishDenied
        )
    }
}
