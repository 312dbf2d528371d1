import Logging
import MeridianBroker
import MeridianBrokerCore
import MeridianClusterCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// This node's link to one other node: the open connection (dialed by the node whose name sorts
/// first, accepted by the other), the local side of this node's session of the peer
/// (``PeerSession``: an in-process client, connected while the link is up), the QoS 2 exchanges
/// the peer started, and the redial schedule. Confined to `loop`, one of the broker's event loops;
/// ``submit(_:)`` may be called from any loop and hands over in batches.
///
/// Forwarding is the session's: routing puts a message for the peer in it (stored first, at QoS
/// 1/2, when persistence is on), the session releases it within its window, the link writes it
/// with the session's packet identifier, and the peer's PUBACK/PUBREC/PUBCOMP goes back to the
/// session, which then forgets it. A link that drops leaves the rest in the session: sent again,
/// in order, on the next link, after a restart of this node too.
final class PeerLink: @unchecked Sendable {
    let peer: String
    let loop: EventLoop
    private unowned let owner: PeerLinks
    private let server: BrokerServer
    private let logger: Logger
    private var sessionID: String { PeerSession.clientIdentifier(for: peer) }

    /// Route updates for the peer, from any loop.
    private let inbox = NIOLockedValueBox<(items: [MQTTPublish], scheduled: Bool)>(([], false))

    // Confined to `loop`.
    private var connection: PeerConnection?
    private var handshaking: PeerConnection?
    private var session: InProcessClient?
    /// The filters this node's session of the peer subscribes to, as last set (nil until read at the first link-up).
    private var subscribed: Set<String>?
    private var nextSubscribeID: UInt16 = 0
    /// Where to dial, when this node is the dialing end; nil when it accepts.
    private var dialAddress: (host: String, port: Int)?
    private var redialDelay = TimeAmount.milliseconds(100)
    private var stopped = false
    private var refusedBefore = false
    private var lastRead: NIODeadline = .now()
    private var keepAliveTask: RepeatedTask?
    /// Packets for the peer written at the end of the current event-loop task: one write and flush per batch.
    private var pendingOut: [MQTTPacket] = []
    private var flushScheduled = false
    /// The retained values still to send on the current link (the exchange at link-up).
    private var retainedToSend: ArraySlice<(topic: String, entry: RetainedMessages.Entry)> = []
    /// Messages handed to the link (not counting resends), published to ``status`` per batch.
    private var forwardedCount = 0
    private var receivedCount = 0
    /// Figures for `/metrics` and `GET /cluster`.
    let status = NIOLockedValueBox(Status())

    struct Status: Sendable {
        var up = false
        /// Since when the link has been down (or wanted, for one not yet up); nil while it is up.
        var downSince: NIODeadline?
        var forwarded = 0
        var received = 0
    }

    init(peer: String, loop: EventLoop, owner: PeerLinks, server: BrokerServer, logger: Logger) {
        self.peer = peer
        self.loop = loop
        self.owner = owner
        self.server = server
        var logger = logger
        logger[metadataKey: "peer"] = "\(peer)"
        self.logger = logger
        let created = server.clock.now
        status.withLockedValue { $0.downSince = created }
        loop.execute { self.startKeepAlive() }
    }

    // MARK: - From any loop

    /// A route update, snapshot request or session message for the peer: sent only on an open link (a new link starts with a snapshot).
    func submit(_ publish: MQTTPublish) {
        let schedule = inbox.withLockedValue { inbox -> Bool in
            inbox.items.append(publish)
            defer { inbox.scheduled = true }
            return !inbox.scheduled
        }
        if schedule { loop.execute { self.drainInbox() } }
    }

    /// Dials `address` (this node is the link's dialing end) until connected, and again whenever it drops.
    func dial(host: String, port: Int) {
        loop.execute {
            let changed = self.dialAddress.map { $0.host != host || $0.port != port } ?? true
            self.dialAddress = (host, port)
            if changed && self.connection == nil && self.handshaking == nil { self.connect() }
        }
    }

    /// The peer left the cluster: the link closes and the session's routes go (what waits in it
    /// stays until the session expires, for a node that comes back).
    func stop() {
        loop.execute {
            self.stopped = true
            self.keepAliveTask?.cancel()
            self.connection?.close()
            self.handshaking?.close()
            self.connection = nil
            self.handshaking = nil
            self.closeSession()
            self.server.removeAllSubscriptions(clientIdentifier: self.sessionID)
            self.subscribed = nil
            self.updateStatus()
        }
    }

    /// An accepted connection whose CONNECT proved the peer: it becomes the link (replacing an older one).
    func accepted(_ connection: PeerConnection, answer: MQTTConnack, pending: [MQTTPacket]) {
        connection.onPackets = { [weak self, weak connection] packets in
            guard let self, let connection else { return }
            self.loop.execute { self.received(packets, on: connection) }
        }
        connection.onClose = { [weak self, weak connection] in
            guard let self, let connection else { return }
            self.loop.execute { self.closed(connection) }
        }
        connection.send([.connack(answer)])
        loop.execute {
            guard !self.stopped else { return connection.close() }
            if let old = self.connection, old !== connection {
                self.logger.notice("inter-node link replaced by a new connection from the peer")
                self.connection = nil
                old.close()
            }
            self.up(connection)
            if !pending.isEmpty { self.received(pending, on: connection) }
        }
    }

    // MARK: - On the link's loop

    private func drainInbox() {
        let items = inbox.withLockedValue { inbox -> [MQTTPublish] in
            inbox.scheduled = false
            defer { inbox.items.removeAll(keepingCapacity: true) }
            return inbox.items
        }
        emit(items.map { .publish($0) })
    }

    private func connect() {
        guard !stopped, let address = dialAddress else { return }
        let connection = PeerConnection(role: .client, remote: "\(address.host):\(address.port)")
        handshaking = connection
        connection.onPackets = { [weak self, weak connection] packets in
            guard let self, let connection else { return }
            self.received(packets, on: connection)
        }
        connection.onClose = { [weak self, weak connection] in
            guard let self, let connection else { return }
            self.closed(connection)
        }
        let hello = owner.hello
        let secret = owner.settings.secret
        let tls = owner.settings.tls
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls.client, serverHostname: nil)) }
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    connection.send([.connect(PeerHandshake.connect(hello, secret: secret, keepAlive: 5))])
                    // A peer that accepts the socket and never answers: closed, and dialed again.
                    channel.eventLoop.scheduleTask(in: .seconds(5)) { [weak self] in
                        if let self, self.handshaking === connection { connection.close() }
                    }
                case .failure(let error):
                    self.logger.debug("inter-node link: cannot connect to \(address.host):\(address.port): \(error)")
                    self.closed(connection)
                }
            }
    }

    private func received(_ packets: [MQTTPacket], on from: PeerConnection) {
        lastRead = .now()
        let now = server.clock.now
        var out: [MQTTPacket] = []
        var toSession: [MQTTPacket] = []
        var retainedTaken = 0
        for packet in packets {
            if from === handshaking, case .connack(let connack) = packet {
                switch PeerHandshake.answer(connack, expectedNode: peer, proof: from.proof) {
                case .accepted:
                    handshaking = nil
                    refusedBefore = false
                    up(from)
                    continue
                case .wrongCertificate(let name):
                    if !refusedBefore {
                        logger.error("inter-node link: the node that answered has a certificate for \(name.map { "\"\($0)\"" } ?? "no name"), not for this peer; closed")
                    }
                    refusedBefore = true
                    redialDelay = .seconds(5)
                    from.close()
                    return
                case .refused(.serverUnavailable):
                    // The peer is starting (not a member yet): dialed again with the usual backoff.
                    logger.notice("inter-node link: the peer has not joined yet (0x88), dialing again")
                    from.close()
                    return
                case .refused(let reason):
                    // Logged once per run of refusals; dialed again slowly (the peer's configuration may be fixed).
                    if !refusedBefore {
                        logger.error("inter-node link refused by the peer (0x\(String(reason.rawValue, radix: 16))): check cluster_secret and cluster_name on both nodes")
                    }
                    refusedBefore = true
                    redialDelay = .seconds(5)
                    from.close()
                    return
                }
            }
            guard from === connection else { continue }
            switch PeerWire.read(packet, from: peer, now: now) {
            case .routeUpdate(let update):
                switch owner.apply(update) {
                case .applied: followRoutes()
                case .needsSnapshot: out.append(.publish(PeerWire.snapshotRequest))
                case .stale: break
                }
            case .snapshotRequest:
                out.append(.publish(PeerWire.publish(owner.snapshot())))
            case .session(let message):
                owner.receivedSessionMessage(message, from: peer)
            case .sessionState(let transfer, let packetIdentifier):
                // Acknowledged once installed and committed; not at all when that failed (the peer sends it again).
                let connection = self.connection
                owner.receivedSessionTransfer(transfer, from: peer, on: loop).whenSuccess { [self] in
                    if let packetIdentifier, let connection { emit([.puback(MQTTAck(packetIdentifier: packetIdentifier))], to: connection) }
                }
            case .message(let message, let packetIdentifier, let sharedGroup, let dup):
                routeFromPeer(message, packetIdentifier: packetIdentifier, sharedGroup: sharedGroup, dup: dup, now: now, out: &out)
            case .forMovedSession(let message, let clientIdentifier, let packetIdentifier, let dup):
                routeFromPeer(message, packetIdentifier: packetIdentifier, movedSession: clientIdentifier, dup: dup, now: now, out: &out)
            case .retainedValue(let topic, let message, let version):
                if server.mergeRetained(message, topic: topic, version: version, now: now) { retainedTaken += 1 }
            case .release(let packetIdentifier):
                server.peerQoS2Ended(packetIdentifier, clientIdentifier: sessionID)
                out.append(.pubcomp(MQTTAck(packetIdentifier: packetIdentifier)))
            case .acknowledgement(let ack):
                toSession.append(ack)
            case .ping:
                out.append(.pingresp)
            case .pong:
                break
            case .invalid(let why):
                logger.warning("inter-node link: \(why), closing")
                from.close()
                return
            }
        }
        server.flushPeerRoutes(on: loop)
        if retainedTaken > 0 {
            logger.info("retained values newer than this node's taken from the peer", metadata: ["count": "\(retainedTaken)"])
        }
        let received = receivedCount
        status.withLockedValue { $0.received = received }
        emit(out, to: from)
        if let session, !toSession.isEmpty {
            for ack in toSession { session.send(ack) }
            session.flush()
        }
    }

    private func routeFromPeer(
        _ message: BrokerMessage, packetIdentifier: UInt16?, sharedGroup: String? = nil, movedSession: String? = nil, dup: Bool,
        now: NIODeadline, out: inout [MQTTPacket]
    ) {
        receivedCount += 1
        // QoS 2: the identifier is recorded in this node's session of the peer (and its store) before
        // the PUBREC, so a resend — after a reconnect, or after this node restarted — is not routed twice.
        var recorded: EventLoopFuture<Void>?
        if message.qos == .exactlyOnce, let packetIdentifier {
            switch server.peerQoS2Arrived(packetIdentifier, dup: dup, clientIdentifier: sessionID, on: loop) {
            case .duplicate:
                out.append(.pubrec(MQTTAck(packetIdentifier: packetIdentifier)))
                return
            case .route(let stored):
                recorded = stored
            }
        }
        let result = server.routeFromPeer(message, sharedGroup: sharedGroup, movedSession: movedSession, now: now, on: loop, recorded: recorded)
        guard let packetIdentifier, message.qos != .atMostOnce else { return }
        let qos = message.qos
        switch result {
        case .routed:
            out.append(acknowledgement(qos, packetIdentifier, routed: true))
        case .refused:
            out.append(acknowledgement(qos, packetIdentifier, routed: false))
        case .committing(let committed):
            let connection = self.connection
            committed.whenSuccess { [self] routed in
                if let connection { emit([acknowledgement(qos, packetIdentifier, routed: routed)], to: connection) }
            }
        }
    }

    /// PUBACK (QoS 1) or PUBREC (QoS 2) of a message the peer forwarded; a QoS 2 message not taken frees its identifier.
    private func acknowledgement(_ qos: MQTTQoS, _ packetIdentifier: UInt16, routed: Bool) -> MQTTPacket {
        let ack = MQTTAck(packetIdentifier: packetIdentifier, reasonCode: routed ? .success : .quotaExceeded)
        guard qos == .exactlyOnce else { return .puback(ack) }
        if !routed { server.peerQoS2Ended(packetIdentifier, clientIdentifier: sessionID) }
        return .pubrec(ack)
    }

    /// Queues packets for `connection` (the link's, if it still is) and writes them all at the end of this task.
    private func emit(_ packets: [MQTTPacket], to connection: PeerConnection? = nil) {
        guard !packets.isEmpty, connection == nil || connection === self.connection else { return }
        pendingOut += packets
        scheduleFlush()
    }

    /// One packet for the link (the session's forwarded messages: no array per message).
    private func emit(_ packet: MQTTPacket) {
        pendingOut.append(packet)
        scheduleFlush()
    }

    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.execute { [self] in
            flushScheduled = false
            let batch = pendingOut
            pendingOut.removeAll(keepingCapacity: true)
            self.connection?.send(batch)
            let forwarded = forwardedCount
            status.withLockedValue { $0.forwarded = forwarded }
        }
    }

    private func up(_ connection: PeerConnection) {
        self.connection = connection
        redialDelay = .milliseconds(100)
        lastRead = .now()
        logger.notice("inter-node link up", metadata: ["remote": "\(connection.remote)"])
        connection.send([.publish(PeerWire.publish(owner.linkUp(self)))])
        // Then every retained value (the peer keeps what is newer than its own), a page at a time.
        retainedToSend = server.retainedSnapshot()[...]
        if !retainedToSend.isEmpty { logger.info("sending the retained values to the peer", metadata: ["count": "\(retainedToSend.count)"]) }
        sendRetainedPage(on: connection)
        openSession()
        updateStatus()
    }

    /// Writes the next page of the retained values to send, and the one after it once the link's
    /// buffer has room: a large retained set neither fills memory with one write nor keeps the link
    /// unwritable (dropping live QoS 0) for long.
    private func sendRetainedPage(on connection: PeerConnection) {
        guard connection === self.connection, !retainedToSend.isEmpty else { return }
        guard connection.isWritable else {
            loop.scheduleTask(in: .milliseconds(5)) { [weak self] in self?.sendRetainedPage(on: connection) }
            return
        }
        let now = server.clock.now
        let page = retainedToSend.prefix(Self.retainedPageSize)
        retainedToSend = retainedToSend.dropFirst(page.count)
        connection.send(page.map { .publish(PeerWire.publish(retained: $0.topic, $0.entry, now: now)) })
        if retainedToSend.isEmpty { retainedToSend = [] } else { loop.execute { [weak self] in self?.sendRetainedPage(on: connection) } }
    }

    /// Retained values per write of the exchange at link-up.
    static let retainedPageSize = 256

    /// Connects this node's session of the peer: what it holds (sent and unacknowledged, then
    /// queued) comes out now, in order, and goes to the peer.
    private func openSession() {
        closeSession()
        if subscribed == nil { subscribed = server.subscriptionFilters(clientIdentifier: sessionID) ?? [] }
        let limits = OutboundFlow.Limits(
            maxQueuedMessages: 100_000, maxQueuedBytes: 64 << 20, queueQoS0Messages: false, maxInflightMessages: 1_024)
        var client: InProcessClient?
        client = server.openInProcessClient(
            on: loop, sessionLimits: limits,
            onPacket: { [weak self] packet in self?.fromSession(packet, client: client) },
            onClose: { [weak self] in
                guard let self, self.session === client else { return }
                self.session = nil
            })
        session = client
        client?.send(.connect(MQTTConnect(
            protocolVersion: .v5, cleanStart: false, keepAlive: 0, clientIdentifier: sessionID,
            properties: [.sessionExpiryInterval(PeerSession.expiryInterval), .receiveMaximum(1_024)])))
        client?.flush()
        followRoutes()
    }

    private func closeSession() {
        session?.close()
        session = nil
    }

    private func fromSession(_ packet: MQTTPacket, client: InProcessClient?) {
        guard let client, client === session else { return }
        switch PeerWire.read(fromSession: packet) {
        case .toPeer(let packet):
            if case .publish(let publish) = packet {
                guard let connection else { return }
                if publish.qos == .atMostOnce && !connection.isWritable {
                    // The peer cannot keep up and the link's buffer passed its high-water mark: QoS 0 is
                    // dropped and counted rather than buffered without bound (QoS 1/2 wait in the window).
                    server.recordDrop(.slowSubscriber, clientIdentifier: sessionID)
                    return
                }
                if !publish.dup { forwardedCount += 1 }
            }
            emit(packet)
        case .closed(let reason):
            logger.warning("this node's session of the peer ended (0x\(String(reason.rawValue, radix: 16))): the link closes and is opened again")
            session = nil
            connection?.close()
        case .none:
            break
        }
    }

    /// Makes the peer's session here subscribe to exactly the peer's routes.
    private func followRoutes() {
        guard let session, let current = subscribed else { return }
        let changes = PeerWire.subscriptionChanges(from: current, to: owner.routes(of: peer))
        if !changes.subscribe.isEmpty {
            session.send(.subscribe(MQTTSubscribe(
                packetIdentifier: nextPacketIdentifier(),
                subscriptions: changes.subscribe.map { MQTTSubscription(topicFilter: $0, options: PeerSession.subscriptionOptions) })))
        }
        if !changes.unsubscribe.isEmpty {
            session.send(.unsubscribe(MQTTUnsubscribe(packetIdentifier: nextPacketIdentifier(), topicFilters: changes.unsubscribe)))
        }
        subscribed = current.union(changes.subscribe).subtracting(changes.unsubscribe)
        session.flush()
    }

    private func nextPacketIdentifier() -> UInt16 {
        nextSubscribeID = nextSubscribeID == .max ? 1 : nextSubscribeID + 1
        return nextSubscribeID
    }

    private func closed(_ closed: PeerConnection) {
        if closed === handshaking { handshaking = nil }
        if closed === connection {
            connection = nil
            closeSession()
            owner.linkDown(self)
            logger.notice("inter-node link down")
            updateStatus()
        }
        guard !stopped, dialAddress != nil, connection == nil, handshaking == nil else { return }
        let delay = redialDelay
        if !refusedBefore { redialDelay = min(redialDelay * 2, .seconds(2)) }
        loop.scheduleTask(in: delay) { [weak self] in
            guard let self, self.connection == nil, self.handshaking == nil else { return }
            self.connect()
        }
    }

    /// A PINGREQ every second on an open link; a link silent for five seconds is closed (and redialed).
    private func startKeepAlive() {
        keepAliveTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            guard let self, let connection = self.connection else { return }
            if NIODeadline.now() - self.lastRead > .seconds(5) {
                self.logger.warning("inter-node link silent for 5 s, closing")
                connection.close()
            } else {
                connection.send([.pingreq])
            }
        }
    }

    private func updateStatus() {
        let up = connection != nil
        let now = server.clock.now
        status.withLockedValue { status in
            if up {
                status.downSince = nil
            } else if status.downSince == nil {
                status.downSince = now
            }
            status.up = up
        }
    }
}
