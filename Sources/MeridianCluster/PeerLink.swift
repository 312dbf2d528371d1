import Logging
import MeridianBroker
import MeridianBrokerCore
import MeridianClusterCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// This node's link to one other node: its outbox (``PeerOutbox``), the open connection (dialed by
/// the node whose name sorts first, accepted by the other), the de-duplication window of what the
/// peer forwarded, and the redial schedule. Confined to `loop`, one of the broker's event loops;
/// ``submit(_:)`` may be called from any loop and hands over in batches.
final class PeerLink: @unchecked Sendable {
    enum Item {
        /// A forwarded message (``PeerWire/forward(_:id:now:)``).
        case forward(MQTTPublish)
        /// A route update or snapshot request: sent only on an open link (a new link starts with a snapshot).
        case control(MQTTPublish)
    }

    let peer: String
    let loop: EventLoop
    private unowned let owner: PeerLinks
    private let logger: Logger

    private let inbox = NIOLockedValueBox<(items: [Item], scheduled: Bool)>(([], false))

    // Confined to `loop`.
    private var outbox: PeerOutbox
    private var connection: PeerConnection?
    private var handshaking: PeerConnection?
    private var recentIDs = RecentMessageIDs(capacity: 65_536)
    /// Where to dial, when this node is the dialing end; nil when it accepts.
    private var dialAddress: (host: String, port: Int)?
    private var redialDelay = TimeAmount.milliseconds(100)
    private var stopped = false
    private var refusedBefore = false
    private var lastRead: NIODeadline = .now()
    private var keepAliveTask: RepeatedTask?
    /// Figures for `/metrics` and `GET /cluster` (read under a lock from other threads).
    let status = NIOLockedValueBox(Status())

    struct Status: Sendable {
        var up = false
        var queued = 0
        var queuedBytes = 0
        var inflight = 0
        var forwarded = 0
        var received = 0
        var drops: [PeerOutbox.DropReason: Int] = [:]
    }

    init(peer: String, loop: EventLoop, owner: PeerLinks, limits: PeerOutbox.Limits, logger: Logger) {
        self.peer = peer
        self.loop = loop
        self.owner = owner
        self.outbox = PeerOutbox(limits: limits)
        var logger = logger
        logger[metadataKey: "peer"] = "\(peer)"
        self.logger = logger
        loop.execute { self.startKeepAlive() }
    }

    // MARK: - From any loop

    func submit(_ item: Item) {
        let schedule = inbox.withLockedValue { inbox -> Bool in
            inbox.items.append(item)
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

    /// The peer left the cluster: the link closes, and what waited for it is dropped (counted).
    func stop() {
        loop.execute {
            self.stopped = true
            self.keepAliveTask?.cancel()
            self.outbox.peerLeft()
            self.connection?.close()
            self.handshaking?.close()
            self.connection = nil
            self.handshaking = nil
            self.updateStatus()
        }
    }

    /// An accepted connection whose CONNECT proved the peer: it becomes the link (replacing an older one).
    func accepted(_ connection: PeerConnection, hello: PeerHandshake.Hello, answer: MQTTConnack, pending: [MQTTPacket]) {
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
                old.close()
            }
            self.up(connection)
            if !pending.isEmpty { self.received(pending, on: connection) }
        }
    }

    // MARK: - On the link's loop

    private func drainInbox() {
        let items = inbox.withLockedValue { inbox -> [Item] in
            inbox.scheduled = false
            defer { inbox.items.removeAll(keepingCapacity: true) }
            return inbox.items
        }
        var out: [MQTTPacket] = []
        for item in items {
            switch item {
            case .forward(let publish):
                for released in outbox.enqueue(publish) { out.append(.publish(released)) }
            case .control(let publish):
                if connection != nil { out.append(.publish(publish)) }
            }
        }
        connection?.send(out)
        updateStatus()
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
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(connection) }
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
        var out: [MQTTPacket] = []
        for packet in packets {
            switch packet {
            case .connack(let connack) where from === handshaking:
                switch PeerHandshake.answer(connack, expectedNode: peer) {
                case .accepted:
                    handshaking = nil
                    refusedBefore = false
                    up(from)
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
            case .publish(let publish) where from === connection:
                handle(publish, out: &out)
            case .puback(let ack) where from === connection:
                for released in outbox.acknowledged(ack.packetIdentifier, reason: ack.reasonCode) { out.append(.publish(released)) }
            case .pingreq where from === connection:
                out.append(.pingresp)
            case .pingresp where from === connection:
                break
            default:
                logger.warning("inter-node link: unexpected \(packet.type) packet, closing")
                from.close()
                return
            }
        }
        from.send(out)
        updateStatus()
    }

    private func handle(_ publish: MQTTPublish, out: inout [MQTTPacket]) {
        switch publish.topic {
        case PeerWire.routesTopic:
            guard let update = PeerWire.routeUpdate(from: publish.payload), update.node == peer else {
                logger.warning("inter-node link: malformed route update, closing")
                connection?.close()
                return
            }
            if owner.apply(update) == .needsSnapshot { out.append(.publish(PeerWire.snapshotRequest)) }
        case PeerWire.snapshotRequestTopic:
            owner.sendSnapshot(to: self)
        default:
            status.withLockedValue { $0.received += 1 }
            let arrival = PeerWire.received(publish, now: owner.now)
            let packetIdentifier = publish.packetIdentifier
            if let id = arrival.id, !recentIDs.insert(id) {
                // Sent again after a reconnect: routed already.
                if let packetIdentifier { out.append(.puback(MQTTAck(packetIdentifier: packetIdentifier))) }
                return
            }
            guard let future = owner.route(arrival.message, on: loop) else { return }
            guard let packetIdentifier else { return }
            let connection = self.connection
            future.whenSuccess { result in
                let reason: MQTTReasonCode = result == .routed ? .success : .quotaExceeded
                connection?.send([.puback(MQTTAck(packetIdentifier: packetIdentifier, reasonCode: reason))])
            }
        }
    }

    private func up(_ connection: PeerConnection) {
        self.connection = connection
        redialDelay = .milliseconds(100)
        lastRead = .now()
        logger.notice("inter-node link up", metadata: ["remote": "\(connection.remote)"])
        var out = outbox.linkUp().map { MQTTPacket.publish($0) }
        out.insert(.publish(PeerWire.publish(owner.linkUp(self))), at: 0)
        connection.send(out)
        updateStatus()
    }

    private func closed(_ closed: PeerConnection) {
        if closed === handshaking { handshaking = nil }
        if closed === connection {
            connection = nil
            outbox.linkDown()
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
        let outbox = self.outbox
        let up = connection != nil
        status.withLockedValue {
            $0.up = up
            $0.queued = outbox.queuedCount
            $0.queuedBytes = outbox.queuedBytes
            $0.inflight = outbox.inflightCount
            $0.forwarded = outbox.forwarded
            $0.drops = outbox.drops
        }
    }
}
