import MeridianMQTT

/// The identifier of a row in a bridge's outbox, in acceptance order.
public typealias OutboxID = Int64

/// The sliding window over a bridge's outbox while draining it to the remote: which rows are in
/// flight under which packet identifiers, what to send next, and which rows may be deleted.
///
/// Pure: events in (``accept(_:)``, ``connected(_:)``, acks), ``Action``s out. The pump reads rows
/// after ``lastAcceptedID`` (at most ``wanted`` of them), hands them to ``accept(_:)`` and
/// executes the actions.
///
/// - Capacity is `min(drain_max_inflight, the remote's Receive Maximum)` QoS 1/2 messages on the
///   wire; QoS 0 messages take no slot and are deleted once sent.
/// - After a reconnect every unfinished message is sent again before anything new, in acceptance
///   order, with DUP and its packet identifier (I2); one that had its PUBREC gets its PUBREL again.
///   A resend keeps the QoS and RETAIN it was first sent with.
/// - A row is deleted only on PUBACK (QoS 1) or PUBCOMP (QoS 2) (I2), or when the remote refuses it
///   with a PUBACK/PUBREC reason code ≥ 0x80: that is reported as ``Action/refused(_:_:)`` and is
///   never a reason to reconnect; resending would be refused again.
/// - 0x97 (Quota exceeded) halves the window; each later success widens it by one until it is
///   back to capacity (additive increase, multiplicative decrease).
/// - The remote's Maximum QoS downgrades, Retain Available `0` clears RETAIN, and a message larger
///   than its Maximum Packet Size is dropped (``Action/dropped(_:_:)``) and deleted.
public struct ForwardingWindow: Sendable {
    /// One outbox row, as far as the window needs it.
    public struct Message: Sendable, Hashable {
        public var id: OutboxID
        public var qos: MQTTQoS
        public var retain: Bool
        /// The encoded PUBLISH size at `qos`, as it will go to the remote (mapped topic, protocol
        /// version and properties included).
        public var encodedSize: Int

        public init(id: OutboxID, qos: MQTTQoS, retain: Bool = false, encodedSize: Int = 0) {
            self.id = id
            self.qos = qos
            self.retain = retain
            self.encodedSize = encodedSize
        }
    }

    /// What the remote's CONNACK allows.
    public struct RemoteLimits: Sendable, Hashable {
        public var receiveMaximum: Int
        public var maximumQoS: MQTTQoS
        public var retainAvailable: Bool
        /// `nil`: no limit beyond the protocol's.
        public var maximumPacketSize: Int?

        public init(
            receiveMaximum: Int = 65_535, maximumQoS: MQTTQoS = .exactlyOnce, retainAvailable: Bool = true,
            maximumPacketSize: Int? = nil
        ) {
            self.receiveMaximum = receiveMaximum
            self.maximumQoS = maximumQoS
            self.retainAvailable = retainAvailable
            self.maximumPacketSize = maximumPacketSize
        }

        /// The limits a CONNACK's properties announce (absent properties: no limit).
        public init(connack: MQTTConnack) {
            let properties = connack.properties
            self.init(
                receiveMaximum: Int(properties.receiveMaximum ?? 65_535),
                maximumQoS: properties.maximumQoS.flatMap(MQTTQoS.init(rawValue:)) ?? .exactlyOnce,
                retainAvailable: properties.retainAvailable != 0,
                maximumPacketSize: properties.maximumPacketSize.map(Int.init)
            )
        }
    }

    /// One PUBLISH to write: the runtime loads row `id` and sends it with these header fields.
    public struct Send: Sendable, Hashable {
        public var id: OutboxID
        /// `nil` for QoS 0.
        public var packetIdentifier: UInt16?
        public var qos: MQTTQoS
        public var retain: Bool
        public var dup: Bool

        public init(id: OutboxID, packetIdentifier: UInt16?, qos: MQTTQoS, retain: Bool, dup: Bool) {
            self.id = id
            self.packetIdentifier = packetIdentifier
            self.qos = qos
            self.retain = retain
            self.dup = dup
        }
    }

    public enum DropReason: Sendable, Hashable {
        /// Larger than the remote's Maximum Packet Size.
        case packetTooLarge
    }

    public enum Action: Sendable, Hashable {
        case send(Send)
        /// Send PUBREL for a QoS 2 message the remote has PUBREC'd.
        case sendPubrel(packetIdentifier: UInt16, id: OutboxID)
        /// Delete these rows from the outbox.
        case delete([OutboxID])
        /// The message can never be sent; count it (its row is in the following `.delete`).
        case dropped(OutboxID, DropReason)
        /// The remote refused the message with this reason code; count it (its row is in the
        /// following `.delete`).
        case refused(OutboxID, MQTTReasonCode)
    }

    /// What the window keeps of a message in flight (its exchange is the shared ``InflightWindow``).
    private struct InFlight: Sendable, Hashable {
        var id: OutboxID
        var retain: Bool
        var encodedSize: Int
        /// Not yet sent on the current connection (after a reconnect).
        var needsResend = false
    }

    public let drainMaxInflight: Int
    public private(set) var limits = RemoteLimits()
    public private(set) var isConnected = false
    /// The last row handed to ``accept(_:)``: the pump reads rows after it.
    public private(set) var lastAcceptedID: OutboxID?
    private var inFlight = InflightWindow<InFlight>()
    /// Messages in flight not yet sent again on the current connection.
    private var awaitingResend = 0
    private var pending: [Message] = []
    private var pendingStart = 0
    /// Set by 0x97; `nil` when running at full capacity.
    private var slowWindow: Int?

    public init(drainMaxInflight: Int) {
        self.drainMaxInflight = max(1, drainMaxInflight)
    }

    /// `min(drain_max_inflight, Receive Maximum)`.
    public var capacity: Int { max(1, min(drainMaxInflight, limits.receiveMaximum)) }

    /// ``capacity``, or less while slowing down after 0x97.
    public var window: Int { min(capacity, slowWindow ?? capacity) }

    /// QoS 1/2 messages on the wire of the current connection.
    public var onWire: Int { inFlight.count - awaitingResend }

    /// Unfinished QoS 1/2 messages, sent or waiting to be sent again.
    public var inFlightCount: Int { inFlight.count }

    /// Accepted messages not yet sent.
    public var pendingCount: Int { pending.count - pendingStart }

    /// How many more rows the pump should read now.
    public var wanted: Int { max(0, window - inFlight.count - pendingCount) }

    /// The packet identifier row `id` is in flight under.
    public func packetIdentifier(for id: OutboxID) -> UInt16? {
        inFlight.entries.first { $0.value.payload.id == id }?.key
    }

    /// The in-flight rows and their packet identifiers, in acceptance order.
    public var inFlightIdentifiers: [(id: OutboxID, packetIdentifier: UInt16)] {
        inFlight.inSendingOrder.map { ($0.entry.payload.id, $0.packetIdentifier) }
    }

    // MARK: Events

    /// A CONNACK accepted the link: resend what was unfinished, then send what is pending.
    public mutating func connected(_ limits: RemoteLimits) -> [Action] {
        self.limits = limits
        isConnected = true
        markAllForResend()
        return fill()
    }

    /// The link went down: everything in flight will be resent after the next CONNACK.
    public mutating func connectionLost() {
        isConnected = false
        markAllForResend()
    }

    private mutating func markAllForResend() {
        for packetIdentifier in inFlight.entries.keys { inFlight.update(packetIdentifier) { $0.needsResend = true } }
        awaitingResend = inFlight.count
    }

    /// Whether an acknowledgement can be for `packetIdentifier`: it is in flight on this connection.
    private func isOnWire(_ packetIdentifier: UInt16) -> Bool {
        inFlight[packetIdentifier].map { !$0.payload.needsResend } ?? false
    }

    /// New outbox rows, in id order; rows at or before ``lastAcceptedID`` are ignored.
    public mutating func accept(_ messages: [Message]) -> [Action] {
        for message in messages where lastAcceptedID.map({ message.id > $0 }) ?? true {
            pending.append(message)
            lastAcceptedID = message.id
        }
        return fill()
    }

    public mutating func pubackReceived(_ ack: MQTTAck) -> [Action] {
        guard isOnWire(ack.packetIdentifier), let entry = inFlight.puback(ack.packetIdentifier) else { return [] }
        return finish(entry.id, reasonCode: ack.reasonCode) + fill()
    }

    public mutating func pubrecReceived(_ ack: MQTTAck) -> [Action] {
        guard isOnWire(ack.packetIdentifier) else { return [] }
        switch inFlight.pubrec(ack.packetIdentifier, failed: ack.reasonCode.isFailure) {
        case .unknown:
            return []
        case .failed(let entry):
            return finish(entry.id, reasonCode: ack.reasonCode) + fill()
        case .released(let entry), .repeated(let entry):
            // A repeated PUBREC gets the PUBREL again.
            return [.sendPubrel(packetIdentifier: ack.packetIdentifier, id: entry.id)]
        }
    }

    public mutating func pubcompReceived(_ ack: MQTTAck) -> [Action] {
        guard isOnWire(ack.packetIdentifier), let entry = inFlight.pubcomp(ack.packetIdentifier) else { return [] }
        // A PUBCOMP reason code (0x92 after the remote lost its session) still ends the exchange:
        // the remote had the message when it sent PUBREC.
        return finish(entry.id, reasonCode: .success) + fill()
    }

    // MARK: Internals

    private mutating func finish(_ id: OutboxID, reasonCode: MQTTReasonCode) -> [Action] {
        if reasonCode.isFailure {
            if reasonCode == .quotaExceeded { slowWindow = max(1, window / 2) }
            return [.refused(id, reasonCode), .delete([id])]
        }
        if let slow = slowWindow { slowWindow = slow + 1 >= capacity ? nil : slow + 1 }
        return [.delete([id])]
    }

    /// Resends first, then pending messages, while the window has room.
    private mutating func fill() -> [Action] {
        guard isConnected else { return [] }
        var actions: [Action] = []
        var deleted: [OutboxID] = []
        var wire = onWire
        if awaitingResend > 0 {
            for (packetIdentifier, entry) in inFlight.inSendingOrder where entry.payload.needsResend {
                guard wire < window else { break }
                let message = entry.payload
                awaitingResend -= 1
                if entry.stage != .awaitingPubcomp, let maximum = limits.maximumPacketSize, message.encodedSize > maximum {
                    inFlight.remove(packetIdentifier)
                    actions.append(.dropped(message.id, .packetTooLarge))
                    deleted.append(message.id)
                    continue
                }
                inFlight.update(packetIdentifier) { $0.needsResend = false }
                wire += 1
                switch entry.stage {
                case .awaitingPuback, .awaitingPubrec:
                    let qos: MQTTQoS = entry.stage == .awaitingPuback ? .atLeastOnce : .exactlyOnce
                    actions.append(
                        .send(Send(id: message.id, packetIdentifier: packetIdentifier, qos: qos, retain: message.retain, dup: true))
                    )
                case .awaitingPubcomp:
                    actions.append(.sendPubrel(packetIdentifier: packetIdentifier, id: message.id))
                }
            }
        }
        // New messages only once nothing waits to be resent (entries added below never do).
        while awaitingResend == 0, pendingStart < pending.count {
            let message = pending[pendingStart]
            let qos = min(message.qos, limits.maximumQoS)
            if qos != .atMostOnce && wire >= window { break }
            pendingStart += 1
            let retain = message.retain && limits.retainAvailable
            let size = message.encodedSize - (message.qos != .atMostOnce && qos == .atMostOnce ? 2 : 0)
            if let maximum = limits.maximumPacketSize, size > maximum {
                actions.append(.dropped(message.id, .packetTooLarge))
                deleted.append(message.id)
                continue
            }
            if qos == .atMostOnce {
                actions.append(.send(Send(id: message.id, packetIdentifier: nil, qos: .atMostOnce, retain: retain, dup: false)))
                deleted.append(message.id)
                continue
            }
            let packetIdentifier = inFlight.start(InFlight(id: message.id, retain: retain, encodedSize: size), qos: qos)
            wire += 1
            actions.append(.send(Send(id: message.id, packetIdentifier: packetIdentifier, qos: qos, retain: retain, dup: false)))
        }
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
        } else if pendingStart > 1024 {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
        if !deleted.isEmpty { actions.append(.delete(deleted)) }
        return actions
    }
}
