import MeridianBrokerCore
import MeridianMQTT
import MeridianStore
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What the broker needs of its durable store (implemented by `SQLiteStore`).
///
/// Operations are applied in the order they are enqueued, by every caller together; a commit
/// completes once everything enqueued before it is durable, so an empty commit is a barrier.
public protocol DurableStore: AnyObject, Sendable {
    func commit(_ operations: [StoreOperation], on eventLoop: EventLoop) -> EventLoopFuture<Void>
    func enqueue(_ operations: [StoreOperation])
}

/// Wall-clock nanoseconds since the Unix epoch (monotonic time does not survive a restart).
func unixTimeNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}

/// Wall-clock seconds as the store keeps them, rounded up: times derived from them (a will's due
/// time, a session's expiry, a message's expiry) are never early after a restart, at most a second late.
func unixTime() -> Int64 {
    (unixTimeNanoseconds() + 999_999_999) / 1_000_000_000
}

/// The time from now until `unixSeconds`, or zero if it passed.
func timeUntil(unixSeconds: Int64) -> TimeAmount {
    .nanoseconds(max(0, unixSeconds * 1_000_000_000 - unixTimeNanoseconds()))
}

extension StoredMessage {
    /// The stored form of a delivery; expiry is converted from monotonic to wall-clock time.
    init(_ delivery: Delivery, now: NIODeadline, wallNow: Int64) {
        var expiresAt: Int64?
        if let remaining = delivery.message.remainingExpiry(at: now) { expiresAt = wallNow + Int64(remaining) }
        self.init(
            topic: delivery.message.topic, payload: delivery.message.payload, qos: delivery.qos, retain: delivery.retain,
            properties: delivery.message.properties, expiresAt: expiresAt,
            subscriptionIdentifiers: delivery.subscriptionIdentifiers
        )
    }

    init(_ message: BrokerMessage, now: NIODeadline, wallNow: Int64) {
        var expiresAt: Int64?
        if let remaining = message.remainingExpiry(at: now) { expiresAt = wallNow + Int64(remaining) }
        self.init(
            topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
            properties: message.properties, expiresAt: expiresAt
        )
    }

    /// The routed message again, with its expiry back on the monotonic clock.
    func brokerMessage(now: NIODeadline, wallNow: Int64, origin: String? = nil) -> BrokerMessage {
        var message = BrokerMessage(
            topic: topic, payload: payload, qos: qos, retain: retain, properties: properties,
            expiresAt: expiresAt.map { now + .seconds(max(0, $0 - wallNow)) }, origin: origin
        )
        message.acceptedAt = now
        message.hops = MeshTrace.read(properties).hops
        return message
    }

    func delivery(now: NIODeadline, wallNow: Int64, storeID: UInt64) -> Delivery {
        Delivery(
            message: brokerMessage(now: now, wallNow: wallNow), qos: qos, retain: retain,
            subscriptionIdentifiers: subscriptionIdentifiers, storeID: storeID
        )
    }
}

extension SessionHandle {
    /// Hands the flow's store effects to the store. Call with `lock` held, after changing `flow`.
    func persistFlowEffects() {
        guard let store, !flow.storeEffects.isEmpty else { return }
        let clientID = clientIdentifier
        store.enqueue(flow.takeStoreEffects().map { effect in
            switch effect {
            case .sent(let id, let packetID):
                return .updateMessageState(clientID: clientID, messageID: id, packetID: packetID, released: false)
            case .released(let id, let packetID):
                return .updateMessageState(clientID: clientID, messageID: id, packetID: packetID, released: true)
            case .completed(let id), .discarded(let id):
                return .deleteMessage(clientID: clientID, messageID: id)
            }
        })
    }
}

extension SQLiteStore: DurableStore {}
