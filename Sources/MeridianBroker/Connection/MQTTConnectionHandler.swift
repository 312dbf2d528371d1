import Logging
import MeridianBrokerCore
import MeridianMQTT
import MeridianSecurity
import NIOCore

/// The one handler of a client connection: reads packets from the socket, feeds them to its
/// ``ConnectionMachine`` and to the session's machines, and carries out what they decide.
/// Confined to its channel's event loop.
final class MQTTConnectionHandler: ChannelInboundHandler, DeliveryTarget, PausedPublisher, KeepAliveChecked, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let broker: Broker
    let loopContext: LoopContext
    /// Fixed for the connection's life: the loop it lives on.
    let loopIndex: Int
    let connectionID: UInt64
    /// A logger carrying the connection and client ids; built on demand, since logging is rare
    /// and a per-connection metadata dictionary would cost memory on every idle connection.
    var logger: Logger {
        var logger = broker.logger
        logger[metadataKey: "conn"] = "\(connectionID)"
        if let clientIdentifier { logger[metadataKey: "client_id"] = "\(clientIdentifier)" }
        return logger
    }

    /// How the connection reaches its client.
    enum Transport {
        /// A socket (TCP or TLS): packets are encoded into the channel.
        case channel(ChannelHandlerContext)
        /// A client in the same process, on the same loop: packets are handed over as values.
        case inProcess(InProcessClient)
    }
    /// Nil once the connection closed.
    var transport: Transport?
    /// An in-process client of the broker (a bridge's local side): trusted, so no authentication,
    /// no ACL, no publish rate limit, and its own queue and in-flight limits.
    var inProcessClient: InProcessClient? {
        if case .inProcess(let client) = transport { return client }
        return nil
    }
    /// Phase, protocol version, keep-alive and will decisions of the connection.
    var machine = ConnectionMachine()
    var phase: ConnectionMachine.Phase { machine.phase }
    var version: MQTTProtocolVersion { machine.version }
    var reader: MQTTPacketReader
    var session: SessionHandle?
    /// The client identifier in force (assigned if the client sent none); nil before CONNECT.
    /// Only this survives the negotiation: an idle connection keeps nothing else of its CONNECT.
    var clientIdentifier: String?
    var will: MQTTWill?
    var inboundAliases = InboundTopicAliases(maximum: 0)
    var outboundAliases = OutboundTopicAliases(maximum: 0)
    /// The CONNECT timeout, until CONNECT (keep-alive is checked on the loop's shared timer).
    var connectTimeout: Scheduled<Void>?
    private var needsFlush = false
    /// The client is a bridge (3.1.1 `try_private`, or Meridian's MQTT 5 CONNECT user property).
    var isBridge = false
    /// The commit the latest acknowledgement waits for; later ones queue behind it.
    var pendingAcknowledgement: EventLoopFuture<Void>?
    /// Sessions whose full queue paused reading from this publisher (backpressure policy).
    var pausedOn: Set<ObjectIdentifier> = []
    /// This client's publish and subscribe decisions under the ACL; nil without one. Replaced on
    /// this loop when the ACL is reloaded (``Broker/applySecurity(_:)``).
    var access: CachedClientAccess?
    /// The `max_publish_rate` token bucket; nil without a limit.
    var publishLimiter: TokenBucket?
    /// Whether a refused publish (ACL or rate) was logged already: one line per connection, the
    /// rest are counted only, so a misbehaving device cannot flood the log.
    var loggedPublishRefusal = false
    /// Whether the listener takes the username from the client certificate
    /// (`use_identity_as_username` / `use_subject_as_username`); see `MQTTConnectionHandler+Certificate.swift`.
    var certificateUsernameSource = ListenerTLSSettings.CertificateUsername.none
    /// Whether the listener has `require_certificate true`.
    var listenerRequiresCertificate = false
    /// The client's verified certificate, once the TLS handshake delivered one (nil: none).
    var peerCertificate: CertificateUsernameEvent?
    /// How authentication let this client in, for the re-check of a security reload; nil before
    /// CONNECT and for in-process clients.
    var credential: Authentication.Credential?

    init(broker: Broker, loopContext: LoopContext, connectionID: UInt64) {
        self.broker = broker
        self.loopContext = loopContext
        self.loopIndex = loopContext.index
        self.connectionID = connectionID
        self.reader = MQTTPacketReader(parser: MQTTPacketParser(role: .server, maximumPacketSize: broker.settings.effectiveMaxPacketSize))
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        transport = .channel(context)
    }

    func channelActive(context: ChannelHandlerContext) {
        let timeout = broker.settings.connectTimeout
        connectTimeout = context.eventLoop.scheduleTask(in: .seconds(timeout)) { [self] in
            guard let action = machine.connectTimedOut() else { return }
            broker.recordRefusal(ConnectionRefusal.connectTimeout)
            logger.notice("no CONNECT within \(timeout) s, closing")
            carryOut(action)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        loopContext.counters.bytesReceived += buffer.readableBytes
        guard phase != .closing else { return }
        machine.heard(at: loopContext.now)
        reader.append(buffer)
        handleReadPackets()
    }

    /// Handles every whole packet read so far. Stops at a CONNECT that waits for admission:
    /// what follows it is handled once the session is attached (``processBufferedInput()``).
    private func handleReadPackets() {
        do {
            while isReceiving, let packet = try reader.next() {
                handle(packet)
            }
        } catch {
            protocolViolation(error)
        }
    }

    /// Handles the packets that arrived while the CONNECT waited for admission.
    func processBufferedInput() {
        guard reader.hasPendingBytes else { return }
        handleReadPackets()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        loopContext.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connectionClosed()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? CertificateUsernameEvent {
            peerCertificate = event
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("connection error: \(error)")
        closeConnection()
    }

    // MARK: - Dispatch

    /// Whether the next packet may be handled now: not while a CONNECT waits for admission, nor
    /// once the connection is closing.
    var isReceiving: Bool { machine.isReceiving }

    func handle(_ packet: MQTTPacket) {
        loopContext.counters.messagesReceived += 1
        switch machine.received(packet) {
        case .session(let packet):
            switch packet {
            case .publish(let publish): handlePublish(publish)
            case .puback(let ack): handlePuback(ack)
            case .pubrec(let ack): handlePubrec(ack)
            case .pubrel(let ack): handlePubrel(ack)
            case .pubcomp(let ack): handlePubcomp(ack)
            case .subscribe(let subscribe): handleSubscribe(subscribe)
            case .unsubscribe(let unsubscribe): handleUnsubscribe(unsubscribe)
            default: break  // the machine hands over session packets only
            }
        case .connect(let connect): handleConnect(connect)
        case .clientDisconnect(let disconnect): handleDisconnect(disconnect)
        case let action: carryOut(action)
        }
    }

    /// Carries out a ``ConnectionMachine`` action that writes or closes.
    func carryOut(_ action: ConnectionMachine.Action) {
        switch action {
        case .send(let packet):
            write(packet)
        case .close(let answer):
            if let answer { write(answer) }
            closeConnection()
        case .none:
            break
        case .connect, .session, .clientDisconnect:
            assertionFailure("\(action) is handled by its own path")
        }
    }

    // MARK: - Writing

    /// Writes a packet; flushed at the end of the read batch.
    func write(_ packet: MQTTPacket) {
        switch transport {
        case .channel(let context):
            var buffer = context.channel.allocator.buffer(capacity: 16)
            packet.write(version: version, to: &buffer)
            loopContext.counters.bytesSent += buffer.readableBytes
            context.write(wrapOutboundOut(buffer), promise: nil)
        case .inProcess(let client):
            client.fromBroker(packet)
        case nil:
            return
        }
        loopContext.counters.messagesSent += 1
        markDirty()
    }

    /// Writes a PUBLISH from the session's flow (any loop hands it here through ``LoopContext``).
    func deliver(_ publish: MQTTPublish) {
        guard let transport, phase == .connected else { return }
        let counters = loopContext.counters
        switch transport {
        case .channel(let context):
            if publish.qos == .atMostOnce && !context.channel.isWritable {
                // The subscriber cannot keep up and its socket buffer passed the high-water mark:
                // QoS 0 is dropped and counted rather than buffered without bound (I7).
                broker.recordDrop(.slowSubscriber, clientIdentifier: clientIdentifier ?? "", now: loopContext.now)
                return
            }
            var publish = publish
            if version == .v5 { outboundAliases.apply(to: &publish) }
            var buffer = context.channel.allocator.buffer(capacity: publish.payload.readableBytes + publish.topic.utf8.count + 16)
            publish.write(version: version, to: &buffer)
            counters.bytesSent += buffer.readableBytes
            context.write(wrapOutboundOut(buffer), promise: nil)
        case .inProcess(let client):
            // Handed over as it is: the payload stays the publisher's buffer, nothing is encoded.
            client.fromBroker(.publish(publish))
        }
        counters.messagesSent += 1
        counters.publishSent += 1
        counters.publishesByQoS.countSent(publish.qos, bytes: publish.payload.readableBytes)
        markDirty()
    }

    private func markDirty() {
        if !needsFlush {
            needsFlush = true
            loopContext.markDirty(self)
        }
    }

    func flushIfNeeded() {
        guard needsFlush else { return }
        needsFlush = false
        switch transport {
        case .channel(let context): context.flush()
        case .inProcess(let client): client.flushToClient()
        case nil: break
        }
    }

    /// Closes the connection after flushing what was written.
    func closeConnection() {
        guard let transport else { return }
        machine.closed()
        flushIfNeeded()
        switch transport {
        case .channel(let context): context.close(promise: nil)
        case .inProcess(let client): client.brokerClosed()
        }
    }

    /// Stops or resumes reading the client's packets (admission, backpressure).
    func setReading(_ reading: Bool) {
        switch transport {
        case .channel(let context):
            guard context.channel.isActive else { return }
            context.channel.setOption(.autoRead, value: reading).whenFailure { _ in }
            if reading { context.read() }
        case .inProcess(let client):
            client.setReading(reading)
        case nil:
            break
        }
    }
}
