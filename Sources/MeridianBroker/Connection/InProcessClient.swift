import MeridianBrokerCore
import MeridianMQTT
import NIOCore

/// A client of the broker inside the process: a session of the broker's own, served by the same
/// connection handler as a socket client, but driven with packet values on one event loop — no
/// socket, no encoding, no decoding. The bridge's local side is one (its outbox is the session).
///
/// Both directions are batched like a socket's: what one side sends is handed to the other with
/// one `execute` per batch, so neither side is ever re-entered from inside its own call.
/// Confined to its event loop.
public final class InProcessClient: @unchecked Sendable {
    /// The broker's end: the handler that serves this client.
    let server: MQTTConnectionHandler
    /// The session's queue and in-flight limits, in place of the configured ones.
    let sessionLimits: OutboundFlow.Limits
    private let loop: EventLoop
    private let onPacket: (MQTTPacket) -> Void
    private let onClose: () -> Void

    /// Client to broker: sent and not yet handled (held while the broker pauses reading).
    private var toBroker = CircularBuffer<MQTTPacket>(initialCapacity: 16)
    private var toBrokerScheduled = false
    private var readingPaused = false
    /// Broker to client: written and not yet handed over.
    private var toClient: [MQTTPacket] = []
    private var toClientScheduled = false
    /// Set by either side's close; nothing is sent after it.
    private var closed = false
    /// Set by the client's own close: nothing is handed to it after it.
    private var closedByClient = false

    init(
        server: MQTTConnectionHandler, loop: EventLoop, sessionLimits: OutboundFlow.Limits,
        onPacket: @escaping (MQTTPacket) -> Void, onClose: @escaping () -> Void
    ) {
        self.server = server
        self.sessionLimits = sessionLimits
        self.loop = loop
        self.onPacket = onPacket
        self.onClose = onClose
    }

    // MARK: - The client's side

    /// Sends a packet to the broker; handled after ``flush()``.
    public func send(_ packet: MQTTPacket) {
        guard !closed else { return }
        toBroker.append(packet)
    }

    /// Hands what was sent to the broker, in one batch.
    public func flush() {
        guard !closed, !toBrokerScheduled, !toBroker.isEmpty else { return }
        toBrokerScheduled = true
        loop.execute { [self] in
            toBrokerScheduled = false
            handToBroker()
        }
    }

    /// Ends the connection as a client closing its socket would: the broker detaches the session.
    public func close() {
        guard !closed else { return }
        closed = true
        closedByClient = true
        loop.execute { [self] in
            server.connectionClosed()
            onClose()
        }
    }

    private func handToBroker() {
        guard !closed else { return }
        var handled = false
        while !readingPaused, server.isReceiving, let packet = toBroker.popFirst() {
            server.handle(packet)
            handled = true
        }
        if handled { server.loopContext.flush() }
    }

    // MARK: - The broker's side

    /// A packet the broker writes to the client; handed over at ``flushToClient()``.
    func fromBroker(_ packet: MQTTPacket) {
        guard !closedByClient else { return }
        toClient.append(packet)
    }

    func flushToClient() {
        guard !closed, !toClientScheduled, !toClient.isEmpty else { return }
        toClientScheduled = true
        loop.execute { [self] in
            toClientScheduled = false
            let batch = toClient
            toClient.removeAll(keepingCapacity: true)
            for packet in batch where !closedByClient { onPacket(packet) }
            // What the client answered while handling the batch goes in one batch too, as a
            // socket client's writes are flushed at the end of its read.
            flush()
        }
    }

    /// The broker ends the connection (a protocol error, a takeover, a security reload): what it
    /// wrote last still reaches the client, then the client hears the close.
    func brokerClosed() {
        guard !closed else { return }
        closed = true
        loop.execute { [self] in
            let batch = toClient
            toClient.removeAll()
            for packet in batch { onPacket(packet) }
            server.connectionClosed()
            onClose()
        }
    }

    /// The broker stops (admission, backpressure) or resumes reading this client's packets.
    func setReading(_ reading: Bool) {
        readingPaused = !reading
        guard reading, !toBroker.isEmpty, !toBrokerScheduled else { return }
        toBrokerScheduled = true
        loop.execute { [self] in
            toBrokerScheduled = false
            handToBroker()
        }
    }
}
