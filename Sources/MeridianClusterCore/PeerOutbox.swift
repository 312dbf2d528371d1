import DequeModule
import MeridianMQTT

/// What one node has for one peer: forwarded messages waiting for the link, those sent and not yet
/// acknowledged (in an ``InflightWindow``), bounds, and drop counts by reason. Pure and confined
/// to its link: messages in, packets to write out.
///
/// QoS 0 goes out at once while the link is up and is dropped while it is down. QoS 1 (and QoS 2,
/// which crosses the link as QoS 1) waits while the link is down, within the bounds, and what was
/// in flight when a link dropped is sent again, in order, when the next one comes up. Held in
/// memory: a `kill -9` of this node loses what is here (the durable outbox is not built yet).
public struct PeerOutbox: Sendable {
    public struct Limits: Sendable, Hashable {
        public var maxQueued: Int
        public var maxQueuedBytes: Int
        public var maxInflight: Int

        public init(maxQueued: Int = 100_000, maxQueuedBytes: Int = 64 << 20, maxInflight: Int = 1_024) {
            self.maxQueued = maxQueued
            self.maxQueuedBytes = maxQueuedBytes
            self.maxInflight = maxInflight
        }
    }

    public enum DropReason: String, Sendable, Hashable, CaseIterable {
        /// QoS 0 while the link was down.
        case linkDown = "link_down"
        /// Over the queue's bounds.
        case queueFull = "queue_full"
        /// The peer left the cluster with messages still here.
        case peerLeft = "peer_left"
        /// The peer could not take it (its queue full with the refuse policy, or its disk floor).
        case refusedByPeer = "refused_by_peer"
    }

    public let limits: Limits
    public private(set) var isUp = false
    public private(set) var drops: [DropReason: Int] = [:]
    /// Messages handed to the link since it started, acknowledged or not.
    public private(set) var forwarded = 0
    private var queue = Deque<MQTTPublish>()
    public private(set) var queuedBytes = 0
    private var window = InflightWindow<MQTTPublish>()

    public init(limits: Limits = Limits()) { self.limits = limits }

    public var queuedCount: Int { queue.count }
    public var inflightCount: Int { window.count }

    /// A forwarded message (``PeerWire/forward(_:id:now:)``): returns what to write now.
    public mutating func enqueue(_ publish: MQTTPublish) -> [MQTTPublish] {
        if publish.qos == .atMostOnce {
            guard isUp else {
                drops[.linkDown, default: 0] += 1
                return []
            }
            forwarded += 1
            return [publish]
        }
        let size = publish.payload.readableBytes + publish.topic.utf8.count
        guard queue.count < limits.maxQueued, queuedBytes + size <= limits.maxQueuedBytes else {
            drops[.queueFull, default: 0] += 1
            return []
        }
        queue.append(publish)
        queuedBytes += size
        return isUp ? release() : []
    }

    /// The link came up: what was in flight goes again (DUP, in the order first sent), then what waits.
    public mutating func linkUp() -> [MQTTPublish] {
        isUp = true
        var out = window.inSendingOrder.map { entry -> MQTTPublish in
            var publish = entry.entry.payload
            publish.dup = true
            return publish
        }
        out += release()
        return out
    }

    /// The link dropped: nothing more is written until the next one is up.
    public mutating func linkDown() { isUp = false }

    /// The peer acknowledged a forwarded message; returns what the freed room lets out.
    public mutating func acknowledged(_ packetIdentifier: UInt16, reason: MQTTReasonCode) -> [MQTTPublish] {
        guard window.puback(packetIdentifier) != nil else { return [] }
        if reason.rawValue >= 0x80 { drops[.refusedByPeer, default: 0] += 1 }
        return isUp ? release() : []
    }

    /// The peer left the cluster: everything still here is dropped (counted).
    public mutating func peerLeft() {
        let lost = queue.count + window.count
        if lost > 0 { drops[.peerLeft, default: 0] += lost }
        queue.removeAll()
        queuedBytes = 0
        window = InflightWindow()
        isUp = false
    }

    private mutating func release() -> [MQTTPublish] {
        var out: [MQTTPublish] = []
        while window.count < limits.maxInflight, var publish = queue.popFirst() {
            queuedBytes -= publish.payload.readableBytes + publish.topic.utf8.count
            let packetIdentifier = window.nextPacketIdentifier()
            publish.packetIdentifier = packetIdentifier
            window.sent(publish, packetIdentifier: packetIdentifier, qos: .atLeastOnce)
            forwarded += 1
            out.append(publish)
        }
        return out
    }
}
