import Logging
import MeridianBrokerCore
import MeridianMQTT
import MeridianSecurity
import NIOCore

/// The one handler of a client connection: parses packets from the socket, executes the broker's
/// decisions and writes the answers. Confined to its channel's event loop.
final class MQTTConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        case awaitingConnect
        /// CONNECT passed authentication and waits for the admission seam; nothing more is read.
        case admitting
        case connected
        case closing
    }

    let broker: Broker
    let loopContext: LoopContext
    let connectionID: UInt64
    /// A logger carrying the connection and client ids; built on demand, since logging is rare
    /// and a per-connection metadata dictionary would cost memory on every idle connection.
    var logger: Logger {
        var logger = broker.logger
        logger[metadataKey: "conn"] = "\(connectionID)"
        if let clientIdentifier = negotiation?.clientIdentifier { logger[metadataKey: "client_id"] = "\(clientIdentifier)" }
        return logger
    }
    var loopIndex: Int { loopContext.index }

    var context: ChannelHandlerContext?
    var phase = Phase.awaitingConnect
    var parser: MQTTPacketParser
    var cumulation: ByteBuffer?
    var version: MQTTProtocolVersion = .v3_1_1
    var session: SessionHandle?
    var negotiation: ConnectNegotiation?
    var will: MQTTWill?
    var inboundAliases = InboundTopicAliases(maximum: 0)
    var outboundAliases = OutboundTopicAliases(maximum: 0)
    var lastActivity = NIODeadline.uptimeNanoseconds(0)
    var keepAliveTask: Scheduled<Void>?
    var connectTimeoutTask: Scheduled<Void>?
    private var needsFlush = false
    /// Set when the connection ends in a way that must not publish the will.
    var suppressWill = false
    /// The client is a 3.1/3.1.1 bridge that announced itself with `try_private`.
    var isBridge = false
    /// Set when another connection took the session over.
    var takenOver = false
    /// Queue and in-flight limits for this connection's session in place of the configured ones
    /// (set for in-process connections such as a bridge's local side).
    var sessionLimits: OutboundFlow.Limits?
    /// The commit the latest acknowledgement waits for; later ones queue behind it.
    var pendingAcknowledgement: EventLoopFuture<Void>?
    /// Sessions whose full queue paused reading from this publisher (backpressure policy).
    var pausedOn: Set<ObjectIdentifier> = []
    /// An in-process client of the broker (a bridge's local side): no authentication, no ACL,
    /// no publish rate limit.
    var isInternal = false
    /// This client's publish and subscribe decisions under the ACL; nil without one. Replaced on
    /// this loop when the ACL is reloaded (``Broker/applySecurity(_:)``).
    var access: CachedClientAccess?
    /// The `max_publish_rate` token bucket; nil without a limit.
    var publishLimiter: PublishRateLimiter?
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
        self.connectionID = connectionID
        self.parser = MQTTPacketParser(role: .server, maximumPacketSize: broker.settings.effectiveMaxPacketSize)
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        let timeout = broker.settings.connectTimeout
        connectTimeoutTask = context.eventLoop.scheduleTask(in: .seconds(timeout)) { [self] in
            guard phase == .awaitingConnect else { return }
            broker.recordRefusal(ConnectionRefusal.connectTimeout)
            logger.notice("no CONNECT within \(timeout) s, closing")
            closeConnection()
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        loopContext.counters.bytesReceived += buffer.readableBytes
        guard phase != .closing else { return }
        lastActivity = loopContext.eventLoop.now
        if var pending = cumulation {
            cumulation = nil
            pending.writeBuffer(&buffer)
            buffer = pending
        }
        parse(&buffer)
    }

    /// Handles every whole packet in `buffer` and keeps the rest. Stops at a CONNECT that waits
    /// for admission: what follows it is handled once the session is attached.
    private func parse(_ buffer: inout ByteBuffer) {
        do {
            while phase != .closing && phase != .admitting, let packet = try parser.next(from: &buffer) {
                handle(packet)
            }
        } catch {
            protocolViolation(error)
            return
        }
        if buffer.readableBytes > 0 && phase != .closing {
            buffer.discardReadBytes()
            cumulation = buffer
        }
    }

    /// Handles the packets that arrived while the CONNECT waited for admission.
    func processBufferedInput() {
        guard var buffer = cumulation else { return }
        cumulation = nil
        parse(&buffer)
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

    private func handle(_ packet: MQTTPacket) {
        loopContext.counters.messagesReceived += 1
        if phase == .awaitingConnect {
            guard case .connect(let connect) = packet else {
                return protocolViolation(MQTTCodecError(.protocolError, "first packet is not CONNECT", packetType: packet.type))
            }
            return handleConnect(connect)
        }
        switch packet {
        case .publish(let publish): handlePublish(publish)
        case .puback(let ack): handlePuback(ack)
        case .pubrec(let ack): handlePubrec(ack)
        case .pubrel(let ack): handlePubrel(ack)
        case .pubcomp(let ack): handlePubcomp(ack)
        case .subscribe(let subscribe): handleSubscribe(subscribe)
        case .unsubscribe(let unsubscribe): handleUnsubscribe(unsubscribe)
        case .pingreq: write(.pingresp)
        case .disconnect(let disconnect): handleDisconnect(disconnect)
        case .connect:
            protocolViolation(MQTTCodecError(.protocolError, "second CONNECT", packetType: .connect))
        case .auth:
            protocolViolation(MQTTCodecError(.protocolError, "AUTH without an authentication method", packetType: .auth))
        case .connack, .suback, .unsuback, .pingresp:
            protocolViolation(MQTTCodecError(.protocolError, "\(packet.type) is sent by servers only", packetType: packet.type))
        }
    }

    // MARK: - Writing

    /// Encodes and writes a packet; flushed at the end of the read batch.
    func write(_ packet: MQTTPacket) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 16)
        packet.write(version: version, to: &buffer)
        loopContext.counters.messagesSent += 1
        loopContext.counters.bytesSent += buffer.readableBytes
        context.write(wrapOutboundOut(buffer), promise: nil)
        markDirty()
    }

    /// Writes a PUBLISH from the session's flow (any loop hands it here through ``LoopContext``).
    func writePublish(_ publish: MQTTPublish) {
        guard let context, phase == .connected else { return }
        if publish.qos == .atMostOnce && !context.channel.isWritable {
            // The subscriber cannot keep up and its socket buffer passed the high-water mark:
            // QoS 0 is dropped and counted rather than buffered without bound (I7).
            broker.recordDrop(.slowSubscriber, clientIdentifier: negotiation?.clientIdentifier ?? "", now: loopContext.eventLoop.now)
            return
        }
        var publish = publish
        if version == .v5 { outboundAliases.apply(to: &publish) }
        var buffer = context.channel.allocator.buffer(capacity: publish.payload.readableBytes + publish.topic.utf8.count + 16)
        publish.write(version: version, to: &buffer)
        let counters = loopContext.counters
        counters.messagesSent += 1
        counters.publishSent += 1
        counters.bytesSent += buffer.readableBytes
        counters.publishesByQoS.countSent(publish.qos, bytes: publish.payload.readableBytes)
        context.write(wrapOutboundOut(buffer), promise: nil)
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
        context?.flush()
    }

    /// Closes the channel after flushing what was written.
    func closeConnection() {
        guard let context else { return }
        if phase != .closing { phase = .closing }
        flushIfNeeded()
        context.close(promise: nil)
    }
}
