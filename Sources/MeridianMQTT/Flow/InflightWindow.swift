/// The sender's half of the QoS 1 and QoS 2 flows (MQTT 5 sections 4.3 and 4.4): which packet
/// identifiers are in use, at which stage each message is, and the order they were first sent in,
/// so that a resumed connection resends them in that order (section 4.6).
///
/// One implementation for every sender: a device session's outbound flow, a bridge's forwarding
/// window and, later, inter-node links. What each keeps per message (a delivery, an outbox row)
/// is the `Payload`; queueing, limits and what an acknowledgement means for the store stay with them.
public struct InflightWindow<Payload> {
    public enum Stage: Sendable, Hashable {
        /// QoS 1 PUBLISH sent.
        case awaitingPuback
        /// QoS 2 PUBLISH sent.
        case awaitingPubrec
        /// PUBREC received and PUBREL sent: the message itself is delivered.
        case awaitingPubcomp
    }

    public struct Entry {
        public var payload: Payload
        public var stage: Stage
        /// Order of first transmission.
        public let sequence: UInt64

        @usableFromInline
        init(payload: Payload, stage: Stage, sequence: UInt64) {
            self.payload = payload
            self.stage = stage
            self.sequence = sequence
        }
    }

    /// What a PUBREC did.
    public enum PubrecOutcome {
        /// The first PUBREC of a message: answer with PUBREL; the message is delivered.
        case released(Payload)
        /// A PUBREC repeated after the PUBREL: answer with PUBREL again.
        case repeated(Payload)
        /// A PUBREC with a failure reason code ends the exchange: the identifier is free.
        case failed(Payload)
        /// No QoS 2 message awaits a PUBREC under this identifier.
        case unknown
    }

    // Inlinable, with its storage usable from inlined code, so that each sender's window is
    // specialized for its payload: an unspecialized generic on every QoS 1 delivery costs ~10%.
    @usableFromInline var storage: [UInt16: Entry] = [:]
    @usableFromInline var nextCandidate: UInt16 = 1
    @usableFromInline var lastSequence: UInt64 = 0

    @inlinable
    public var entries: [UInt16: Entry] { storage }

    @inlinable
    public init() {}

    @inlinable
    public var count: Int { storage.count }
    @inlinable
    public var isEmpty: Bool { storage.isEmpty }

    @inlinable
    public subscript(packetIdentifier: UInt16) -> Entry? { storage[packetIdentifier] }

    /// Takes a free packet identifier for a QoS 1 or 2 message and records it as sent.
    @inlinable
    public mutating func start(_ payload: Payload, qos: MQTTQoS) -> UInt16 {
        let packetIdentifier = nextPacketIdentifier()
        sent(payload, packetIdentifier: packetIdentifier, qos: qos)
        return packetIdentifier
    }

    /// A packet identifier no message in flight uses, for the next ``sent(_:packetIdentifier:qos:)``.
    /// The caller keeps at most 65,535 messages in flight, so a free identifier exists.
    @inlinable
    public mutating func nextPacketIdentifier() -> UInt16 {
        precondition(storage.count < Int(UInt16.max), "every packet identifier is in use")
        while true {
            let candidate = nextCandidate
            nextCandidate = nextCandidate == .max ? 1 : nextCandidate + 1
            if storage[candidate] == nil { return candidate }
        }
    }

    /// Records a QoS 1 or 2 message as sent under `packetIdentifier` (from ``nextPacketIdentifier()``).
    @inlinable
    public mutating func sent(_ payload: consuming Payload, packetIdentifier: UInt16, qos: MQTTQoS) {
        precondition(qos != .atMostOnce, "a QoS 0 message has no exchange")
        lastSequence += 1
        storage[packetIdentifier] = Entry(
            payload: payload, stage: qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec, sequence: lastSequence)
    }

    /// Records a message sent on an earlier connection (restored from the store), in sending order.
    @inlinable
    public mutating func restore(_ payload: Payload, packetIdentifier: UInt16, stage: Stage) {
        lastSequence += 1
        storage[packetIdentifier] = Entry(payload: payload, stage: stage, sequence: lastSequence)
    }

    /// Changes what is kept for a message in flight (its stage stays).
    @inlinable
    public mutating func update(_ packetIdentifier: UInt16, _ change: (inout Payload) -> Void) {
        guard storage[packetIdentifier] != nil else { return }
        change(&storage[packetIdentifier]!.payload)
    }

    /// A PUBACK. - Returns: the message it completed; nil if no QoS 1 message awaited it.
    @inlinable
    public mutating func puback(_ packetIdentifier: UInt16) -> Payload? {
        // Looked up by index and removed, not copied out: the hot path of every QoS 1 delivery.
        guard let index = storage.index(forKey: packetIdentifier), storage.values[index].stage == .awaitingPuback else { return nil }
        return storage.remove(at: index).value.payload
    }

    @inlinable
    public mutating func pubrec(_ packetIdentifier: UInt16, failed: Bool) -> PubrecOutcome {
        guard let entry = storage[packetIdentifier] else { return .unknown }
        switch entry.stage {
        case .awaitingPuback:
            return .unknown
        case .awaitingPubcomp:
            return .repeated(entry.payload)
        case .awaitingPubrec:
            if failed {
                storage[packetIdentifier] = nil
                return .failed(entry.payload)
            }
            storage[packetIdentifier]!.stage = .awaitingPubcomp
            return .released(entry.payload)
        }
    }

    /// A PUBCOMP. - Returns: the message it completed; nil if none awaited it.
    @inlinable
    public mutating func pubcomp(_ packetIdentifier: UInt16) -> Payload? {
        guard storage[packetIdentifier]?.stage == .awaitingPubcomp else { return nil }
        return storage.removeValue(forKey: packetIdentifier)?.payload
    }

    /// Ends a message's exchange without an acknowledgement (it may not be sent again).
    @discardableResult
    @inlinable
    public mutating func remove(_ packetIdentifier: UInt16) -> Payload? {
        storage.removeValue(forKey: packetIdentifier)?.payload
    }

    /// Ends every exchange whose entry `shouldRemove` selects; returns them in sending order.
    @inlinable
    public mutating func removeAll(where shouldRemove: (Entry) -> Bool) -> [(packetIdentifier: UInt16, entry: Entry)] {
        let removed = inSendingOrder.filter { shouldRemove($0.entry) }
        for (packetIdentifier, _) in removed { storage[packetIdentifier] = nil }
        return removed
    }

    /// The messages in flight in the order they were first sent: the order of a resend.
    @inlinable
    public var inSendingOrder: [(packetIdentifier: UInt16, entry: Entry)] {
        storage.sorted { $0.value.sequence < $1.value.sequence }.map { ($0.key, $0.value) }
    }
}

extension InflightWindow: Sendable where Payload: Sendable {}
extension InflightWindow.Entry: Sendable where Payload: Sendable {}
extension InflightWindow.PubrecOutcome: Sendable where Payload: Sendable {}
