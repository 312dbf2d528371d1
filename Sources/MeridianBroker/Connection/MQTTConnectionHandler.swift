import Logging
import MeridianBrokerCore
import MeridianMQTT
import MeridianSecurity
import NIOCore

/// The one handler of a client connection: parses packets from the socket, executes the broker's
/// decisions and writes the answers. Confined to its channel's event loop.
final class MQTTConnectionHandler: ChannelInboundHandler, DeliveryTarget, PausedPublisher, KeepAliveChecked, @unchecked Sendable {
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
    var phase = Phase.awaitingConnect
    var reader: MQTTPacketReader
    var version: MQTTProtocolVersion = .v3_1_1
    var session: SessionHandle?
    /// The client identifier in force (assigned if the client sent none); nil before CONNECT.
    /// Only this survives the negotiation: an idle connection keeps nothing else of its CONNECT.
    var clientIdentifier: String?
    var will: MQTTWill?
    var inboundAliases = InboundTopicAliases(maximum: 0)
    var outboundAliases = OutboundTopicAliases(maximum: 0)
    /// The client's keep-alive (nil for 0, or before CONNECT).
    var keepAlive: KeepAliveWatchdog?
    /// The CONNECT timeout, until CONNECT (keep-alive is checked on the loop's shared timer).
    var connectTimeout: Scheduled<Void>?
    private var needsFlush = false
    /// Set when the connection ends in a way that must not publish the will.
    var suppressWill = false
    /// The client is a 3.1/3.1.1 bridge that announced itself with `try_private`.
    var isBridge = false
    /// Set when another connection took the session over.
    var takenOver = false
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
            guard phase == .awaitingConnect else { return }
            broker.recordRefusal(ConnectionRefusal.connectTimeout)
            logger.notice("no CONNECT within \(timeout) s, closing")
            closeConnection()
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        loopContext.counters.bytesReceived += buffer.readableBytes
        guard phase != .closing else { return }
        if keepAlive != nil { keepAlive!.heard(at: loopContext.now) }
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
    var isReceiving: Bool { phase != .closing && phase != .admitting }

    func handle(_ packet: MQTTPacket) {
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
        if phase != .closing { phase = .closing }
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
