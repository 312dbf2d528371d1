import DequeModule
import MeridianMQTT
import NIOCore

/// Why a message addressed to a session was not delivered.
public enum DropReason: Hashable, Sendable, CaseIterable {
    /// The session's queue reached `max_queued_messages` or `max_queued_bytes`.
    case queueFull
    /// A QoS 0 message for an offline session, with `queue_qos0_messages false`.
    case offlineQoS0
    /// The message's expiry interval passed before it could be sent.
    case expired
    /// The encoded PUBLISH exceeds the client's Maximum Packet Size.
    case tooLarge
    /// A shared-subscription message whose group had no member left to take it.
    case noSubscriber
    /// The store's file system is below its free-space floor: the message was refused.
    case diskFloor
    /// A QoS 0 message for a subscriber whose unsent data passed the write high-water mark.
    case slowSubscriber
    /// A message received over a bridge that this broker already had, or had sent (``MeshTrace``).
    case loop
    /// A queued or in-flight message the session's client may not read when it is sent (its
    /// rights changed, or another user's client took the session over under
    /// `allow_cross_user_takeover`): rights are checked at delivery, not only when queued (I8).
    case notAuthorized
}

/// A change to a stored delivery that the durable store must record.
public enum StoreEffect: Sendable, Equatable {
    /// A QoS 2 message was sent with this packet identifier.
    case sent(storeID: UInt64, packetIdentifier: UInt16)
    /// The client's PUBREC arrived: only PUBREL/PUBCOMP remain.
    case released(storeID: UInt64, packetIdentifier: UInt16)
    /// The client acknowledged it (PUBACK, PUBCOMP, or a failing PUBREC): the row goes.
    case completed(storeID: UInt64)
    /// It left this session without being delivered (expired, too large, handed to another member).
    case discarded(storeID: UInt64)
}

/// The server-to-client half of a session: the queue of messages waiting for a free slot or for
/// the client to come back, its bounds and drop policies, and the store effects of each step.
/// The QoS 1/2 exchanges themselves are the shared ``InflightWindow``.
public struct OutboundFlow: Sendable {

    public struct Limits: Sendable, Equatable {
        /// Queue bound in messages; 0 = none.
        public var maxQueuedMessages: Int
        /// Queue bound in bytes; 0 = none.
        public var maxQueuedBytes: Int
        public var queueQoS0Messages: Bool
        /// Server-side cap on in-flight messages (`max_inflight_messages`); 0 = none.
        public var maxInflightMessages: Int
        /// Server-side cap on in-flight payload bytes (`max_inflight_bytes`); 0 = none.
        public var maxInflightBytes: Int
        /// Keep messages for a connected client past the queue bounds and ask the caller to slow
        /// the publisher down (`queue_full_policy backpressure`), instead of dropping them.
        public var backpressure = false
        /// A full queue refuses the new message and the publisher is told (a bridge's
        /// `queue_overflow refuse`: MQTT 5 publishers get 0x97 Quota exceeded).
        public var refuseWhenFull = false
        /// Seconds a message may wait in this session's queue before it is dropped as expired
        /// (a bridge's `max_message_age`); 0 = no limit beyond the message's own expiry.
        public var maxMessageAge: Int = 0
        /// When the queue is full, drop its oldest message to make room for the new one, instead
        /// of dropping the new one (a bridge's `queue_overflow drop-oldest`).
        public var dropOldest = false

        public init(
            maxQueuedMessages: Int = 1000, maxQueuedBytes: Int = 0, queueQoS0Messages: Bool = false,
            maxInflightMessages: Int = 20, maxInflightBytes: Int = 0
        ) {
            self.maxQueuedMessages = maxQueuedMessages
            self.maxQueuedBytes = maxQueuedBytes
            self.queueQoS0Messages = queueQoS0Messages
            self.maxInflightMessages = maxInflightMessages
            self.maxInflightBytes = maxInflightBytes
        }
    }

    /// The QoS 1/2 messages sent and not yet acknowledged.
    public private(set) var inflight = InflightWindow<Delivery>()
    /// Empty without storage: most sessions never queue, and idle connections must stay small
    /// (a `Deque` allocates on its first element; a `CircularBuffer` at once, 192 B per session).
    public private(set) var queue = Deque<Delivery>()
    public private(set) var queuedBytes = 0
    /// Payload bytes of messages awaiting PUBACK or PUBREC.
    public private(set) var inflightBytes = 0
    /// Changes to stored deliveries since the last ``takeStoreEffects()``.
    public private(set) var storeEffects: [StoreEffect] = []
    public var limits: Limits
    /// The client's Receive Maximum for the current connection.
    public var clientReceiveMaximum: Int = 65_535
    /// The client's Maximum Packet Size for the current connection (nil = protocol limit).
    public var clientMaximumPacketSize: Int?
    public var protocolVersion: MQTTProtocolVersion = .v3_1_1

    public init(limits: Limits) { self.limits = limits }

    /// Returns and clears the pending store effects.
    public mutating func takeStoreEffects() -> [StoreEffect] {
        defer { storeEffects.removeAll() }
        return storeEffects
    }

    /// Rebuilds the flow of a session recovered from the store or moved from another node: `inflight`
    /// are messages already sent (with their packet identifiers; `released` once the PUBREC came),
    /// `queue` the rest in order.
    public mutating func restore(inflight restored: [(packetIdentifier: UInt16, delivery: Delivery, released: Bool)], queue restoredQueue: [Delivery]) {
        for (packetIdentifier, delivery, released) in restored {
            let stage: InflightWindow<Delivery>.Stage = released ? .awaitingPubcomp : delivery.qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec
            inflight.restore(delivery, packetIdentifier: packetIdentifier, stage: stage)
            if !released { inflightBytes += delivery.message.payload.readableBytes }
        }
        for delivery in restoredQueue {
            queue.append(delivery)
            queuedBytes += delivery.message.approximateSize
        }
    }

    /// The number of QoS 1/2 messages that may be unacknowledged at once.
    public var window: Int {
        let server = limits.maxInflightMessages == 0 ? 65_535 : limits.maxInflightMessages
        return min(server, clientReceiveMaximum)
    }

    /// Whether another QoS 1/2 message may start now.
    private var hasFreeSlot: Bool {
        inflight.count < window && (limits.maxInflightBytes == 0 || inflightBytes < limits.maxInflightBytes)
    }

    /// Result of offering one delivery.
    public enum Offer: Sendable {
        case send(MQTTPublish)
        case queued
        /// Queued past the bounds under the backpressure policy: the publisher should pause.
        case queuedOverLimit
        /// Queued, and the oldest queued message was dropped to make room (`dropOldest`).
        case queuedDroppingOldest
        case dropped(DropReason)
    }

    /// Offers a delivery: sent now if the client is online and a slot is free, else queued within bounds.
    ///
    /// - Parameter sendNow: false when the caller cannot write to the client's connection
    ///   immediately (it lives on another event loop). A QoS 1/2 message is then queued and sent by
    ///   the connection's own ``drain(now:dropped:)``, so that every QoS 1/2 message reaches the wire
    ///   in queue order (MQTT 5 section 4.6).
    public mutating func offer(_ delivery: consuming Delivery, online: Bool, sendNow: Bool = true, now: NIODeadline) -> Offer {
        if delivery.message.isExpired(at: now) { return .dropped(.expired) }
        if limits.maxMessageAge > 0 {
            let limit = now + .seconds(Int64(limits.maxMessageAge))
            if delivery.message.expiresAt.map({ $0 > limit }) ?? true { delivery.message.expiresAt = limit }
        }
        if delivery.qos == .atMostOnce {
            if online { return sendable(delivery, packetIdentifier: nil, now: now) }
            guard limits.queueQoS0Messages else { return .dropped(.offlineQoS0) }
            return enqueue(delivery, online: online)
        }
        if online && sendNow && queue.isEmpty && hasFreeSlot {
            return startInflight(delivery, now: now)
        }
        return enqueue(delivery, online: online)
    }

    /// When the oldest message still owed to the client (queued, or sent and not acknowledged)
    /// was accepted from its publisher; nil when none is. Walks the in-flight window: for status
    /// figures only.
    public var oldestWaitingSince: NIODeadline? {
        var oldest = queue.first?.message.acceptedAt
        for entry in inflight.entries.values {
            if let accepted = entry.payload.message.acceptedAt, oldest.map({ accepted < $0 }) ?? true { oldest = accepted }
        }
        return oldest
    }

    /// Whether the queue has reached `max_queued_messages` or `max_queued_bytes`.
    public var isQueueFull: Bool {
        (limits.maxQueuedMessages > 0 && queue.count >= limits.maxQueuedMessages)
            || (limits.maxQueuedBytes > 0 && queuedBytes >= limits.maxQueuedBytes)
    }

    /// Whether the queue drained to half its bounds: publishers paused by backpressure may resume.
    public var hasDrainedBelowLowWater: Bool {
        (limits.maxQueuedMessages == 0 || queue.count <= limits.maxQueuedMessages / 2)
            && (limits.maxQueuedBytes == 0 || queuedBytes <= limits.maxQueuedBytes / 2)
    }

    private mutating func enqueue(_ delivery: Delivery, online: Bool) -> Offer {
        let size = delivery.message.approximateSize
        let full = (limits.maxQueuedMessages > 0 && queue.count >= limits.maxQueuedMessages)
            || (limits.maxQueuedBytes > 0 && queuedBytes + size > limits.maxQueuedBytes)
        if full && limits.dropOldest && !queue.isEmpty {
            let oldest = queue.removeFirst()
            queuedBytes -= oldest.message.approximateSize
            if let id = oldest.storeID { storeEffects.append(.discarded(storeID: id)) }
            queue.append(delivery)
            queuedBytes += size
            return .queuedDroppingOldest
        }
        if full && !(limits.backpressure && online) { return .dropped(.queueFull) }
        queue.append(delivery)
        queuedBytes += size
        return full ? .queuedOverLimit : .queued
    }

    private func sendable(_ delivery: Delivery, packetIdentifier: UInt16?, now: NIODeadline) -> Offer {
        let publish = delivery.publish(packetIdentifier: packetIdentifier, dup: false, now: now)
        if let max = clientMaximumPacketSize, publish.encodedSize(version: protocolVersion) > max {
            return .dropped(.tooLarge)
        }
        return .send(publish)
    }

    private mutating func startInflight(_ delivery: consuming Delivery, now: NIODeadline) -> Offer {
        let packetIdentifier = inflight.nextPacketIdentifier()
        let result = sendable(delivery, packetIdentifier: packetIdentifier, now: now)
        guard case .send = result else { return result }
        inflightBytes += delivery.message.payload.readableBytes
        if delivery.qos == .exactlyOnce, let id = delivery.storeID {
            storeEffects.append(.sent(storeID: id, packetIdentifier: packetIdentifier))
        }
        inflight.sent(delivery, packetIdentifier: packetIdentifier, qos: delivery.qos)
        return result
    }

    /// Moves queued messages into free in-flight slots; reports drops through `dropped`.
    /// - Parameter mayRead: whether the client may read a topic now (its ACL); a message it may
    ///   not is dropped as ``DropReason/notAuthorized``.
    public mutating func drain(
        now: NIODeadline, mayRead: (String) -> Bool = { _ in true }, dropped: (DropReason) -> Void
    ) -> [MQTTPublish] {
        var out: [MQTTPublish] = []
        while !queue.isEmpty, queue[queue.startIndex].qos == .atMostOnce || hasFreeSlot {
            let next = queue.removeFirst()
            queuedBytes -= next.message.approximateSize
            if next.message.isExpired(at: now) {
                if let id = next.storeID { storeEffects.append(.discarded(storeID: id)) }
                dropped(.expired)
                continue
            }
            if !mayRead(next.message.topic) {
                if let id = next.storeID { storeEffects.append(.discarded(storeID: id)) }
                dropped(.notAuthorized)
                continue
            }
            let result = next.qos == .atMostOnce
                ? sendable(next, packetIdentifier: nil, now: now) : startInflight(next, now: now)
            switch result {
            case .send(let publish): out.append(publish)
            case .dropped(let reason):
                if let id = next.storeID { storeEffects.append(.discarded(storeID: id)) }
                dropped(reason)
            case .queued, .queuedOverLimit, .queuedDroppingOldest: break
            }
        }
        return out
    }

    /// PUBACK from the client. - Returns: false if the identifier was not awaiting a PUBACK.
    public mutating func acknowledge(puback packetIdentifier: UInt16) -> Bool {
        guard let delivery = inflight.puback(packetIdentifier) else { return false }
        inflightBytes -= delivery.message.payload.readableBytes
        if let id = delivery.storeID { storeEffects.append(.completed(storeID: id)) }
        return true
    }

    /// PUBREC from the client. - Returns: whether to answer with PUBREL (false: unknown id or failure code).
    public mutating func acknowledge(pubrec packetIdentifier: UInt16, reasonCode: MQTTReasonCode) -> Bool {
        switch inflight.pubrec(packetIdentifier, failed: reasonCode.isFailure) {
        case .unknown:
            return false
        case .repeated:
            return true
        case .failed(let delivery):
            inflightBytes -= delivery.message.payload.readableBytes
            if let id = delivery.storeID { storeEffects.append(.completed(storeID: id)) }
            return false
        case .released(let delivery):
            inflightBytes -= delivery.message.payload.readableBytes
            if let id = delivery.storeID { storeEffects.append(.released(storeID: id, packetIdentifier: packetIdentifier)) }
            return true
        }
    }

    /// PUBCOMP from the client. - Returns: false if the identifier was not awaiting a PUBCOMP.
    public mutating func acknowledge(pubcomp packetIdentifier: UInt16) -> Bool {
        guard let delivery = inflight.pubcomp(packetIdentifier) else { return false }
        if let id = delivery.storeID { storeEffects.append(.completed(storeID: id)) }
        return true
    }

    /// Packets to resend on a resumed session, in their original order: PUBLISH with DUP for
    /// unacknowledged messages, PUBREL for those already received by the client.
    /// - Parameter mayRead: whether the client may read a topic now; an unacknowledged message
    ///   it may not leaves the window unsent (reported through `dropped`). A PUBREL carries no
    ///   message and is always sent.
    public mutating func resend(
        now: NIODeadline, mayRead: (String) -> Bool = { _ in true }, dropped: (DropReason) -> Void = { _ in }
    ) -> [MQTTPacket] {
        let unreadable = inflight.removeAll { $0.stage != .awaitingPubcomp && !mayRead($0.payload.message.topic) }
        for (_, entry) in unreadable {
            inflightBytes -= entry.payload.message.payload.readableBytes
            if let id = entry.payload.storeID { storeEffects.append(.discarded(storeID: id)) }
            dropped(.notAuthorized)
        }
        return inflight.inSendingOrder.map { packetIdentifier, entry in
            switch entry.stage {
            case .awaitingPuback, .awaitingPubrec:
                return .publish(entry.payload.publish(packetIdentifier: packetIdentifier, dup: true, now: now))
            case .awaitingPubcomp:
                return .pubrel(MQTTAck(packetIdentifier: packetIdentifier))
            }
        }
    }

    /// Removes the deliveries made for a shared subscription that the client has not yet
    /// received (queued, or QoS 1 in flight without PUBACK), for redelivery to another member.
    /// QoS 2 messages already sent stay: their flow must complete with this client (MQTT 5 section 4.8.2).
    public mutating func takeSharedUnacknowledged() -> [Delivery] {
        let taken = inflight.removeAll { $0.stage == .awaitingPuback && $0.payload.sharedFilter != nil }
        for (_, entry) in taken { inflightBytes -= entry.payload.message.payload.readableBytes }
        var result = taken.map(\.entry.payload)
        if queue.contains(where: { $0.sharedFilter != nil }) {
            result += queue.filter { $0.sharedFilter != nil }
            let kept = queue.filter { $0.sharedFilter == nil }
            queue = Deque(kept)
            queuedBytes = kept.reduce(0) { $0 + $1.message.approximateSize }
        }
        for delivery in result { if let id = delivery.storeID { storeEffects.append(.discarded(storeID: id)) } }
        return result.map { var moved = $0; moved.storeID = nil; return moved }
    }

    /// Everything the session still owes its client, for a session that moves to another node: the
    /// messages in flight in sending order, with their packet identifiers and whether their PUBREC
    /// came (the new node resends each PUBLISH, or only the PUBREL, under the same identifier, as a
    /// resumed session must: MQTT 5 section 4.4), then the queue. The flow is left empty.
    public mutating func takeAll() -> (inflight: [TakenSession.InFlight], queued: [Delivery]) {
        let sent = inflight.removeAll { _ in true }.map { entry -> TakenSession.InFlight in
            var delivery = entry.entry.payload
            delivery.storeID = nil
            return TakenSession.InFlight(packetIdentifier: entry.packetIdentifier, delivery: delivery, released: entry.entry.stage == .awaitingPubcomp)
        }
        let queued = queue.map { var moved = $0; moved.storeID = nil; return moved }
        queue = Deque()
        queuedBytes = 0
        inflightBytes = 0
        return (sent, queued)
    }

    /// Drops QoS 0 messages from the queue (they are not kept across a disconnect unless configured).
    public mutating func discardQueuedQoS0() {
        guard !limits.queueQoS0Messages, queue.contains(where: { $0.qos == .atMostOnce }) else { return }
        let kept = queue.filter { $0.qos != .atMostOnce }
        queue = Deque(kept)
        queuedBytes = kept.reduce(0) { $0 + $1.message.approximateSize }
    }

    public var queuedCount: Int { queue.count }

    /// Whether a ``drain(now:dropped:)`` now would send something.
    public var canDrain: Bool {
        guard !queue.isEmpty else { return false }
        return queue[queue.startIndex].qos == .atMostOnce || hasFreeSlot
    }
}
