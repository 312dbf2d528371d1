import Logging
import MeridianBroker
import MeridianBrokerCore
import MeridianClusterCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The inter-node links of this node (DESIGN.md §8): the cluster listener, one link per other
/// member, this node's routes announced on every link (the broker's ``ClusterRouting`` seam) and
/// the other nodes' routes learned from them, which each link turns into the subscriptions of
/// this node's session of that peer (``PeerSession``): routing a message to it forwards it.
///
/// Which members exist comes from etcd (``membershipChanged(_:)``), never from whether a socket
/// works: a member whose key goes loses its routes and its link at once.
///
/// With `cluster_cafile`/`cluster_certfile`/`cluster_keyfile`, every link is TLS with a
/// certificate on both ends (``LinkTLS``).
public final class PeerLinks: ClusterRouting, Service, @unchecked Sendable {
    public struct Settings: Sendable {
        public var cluster: String
        public var node: String
        public var secret: String
        public var listenHost: String
        public var listenPort: Int
        /// mTLS between nodes (``tlsContexts(caFile:certFile:keyFile:)``); nil for plain TCP.
        public var tls: LinkTLS?

        public init(cluster: String, node: String, secret: String, listenHost: String, listenPort: Int, tls: LinkTLS? = nil) {
            self.cluster = cluster
            self.node = node
            self.secret = secret
            self.listenHost = listenHost
            self.listenPort = listenPort
            self.tls = tls
        }
    }

    /// TLS on both ends of every link: each node presents its certificate when it dials and when it
    /// accepts, and accepts only a peer whose certificate the cluster's CA signed (TLS 1.2 or later;
    /// no host name check: nodes dial the addresses peers advertise, and the CA is the cluster's own).
    public struct LinkTLS: Sendable {
        let server: NIOSSLContext
        let client: NIOSSLContext
    }

    public static func tlsContexts(caFile: String, certFile: String, keyFile: String) throws -> LinkTLS {
        do {
            let identity = ClusterTLS.Identity(certFile: certFile, certOption: "cluster_certfile", keyFile: keyFile, keyOption: "cluster_keyfile")
            // One configuration for both ends (the handler decides the role); on the accepting end
            // verification also requires the peer's certificate.
            var configuration = TLSConfiguration.makeClientConfiguration()
            try ClusterTLS.configure(&configuration, caFile: caFile, caOption: "cluster_cafile", identity: identity, verification: .noHostnameVerification)
            let context = try NIOSSLContext(configuration: configuration)
            return LinkTLS(server: context, client: context)
        } catch let error as MeridianBroker.TLSFiles.Failure {
            throw error
        } catch {
            throw EtcdError("mTLS between nodes: \(error)")
        }
    }

    let settings: Settings
    private let logger: Logger
    /// Guards the fields below (never held while calling the broker or writing to a socket).
    private let lock = NIOLock()
    private var routes = RouteTable()
    private var local: LocalRoutes
    private var links: [String: PeerLink] = [:]
    /// Links that are open and have had this node's snapshot: route updates go to them.
    private var openLinks: [String: PeerLink] = [:]
    private var server: BrokerServer?
    private var listener: Channel?

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.local = LocalRoutes(node: settings.node, incarnation: 0)
    }

    var hello: PeerHandshake.Hello {
        lock.withLock { PeerHandshake.Hello(cluster: settings.cluster, node: settings.node, incarnation: local.incarnation) }
    }

    /// Binds the cluster listener on the broker's event loops; links carry messages from now on.
    public func start(server: BrokerServer) async throws {
        lock.withLock { self.server = server }
        let channel = try await ServerBootstrap(group: server.eventLoopGroup)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                let remote = channel.remoteAddress?.description ?? "?"
                let connection = PeerConnection(role: .server, remote: remote)
                if let tls = settings.tls {
                    do {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.server))
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                connection.onPackets = { [weak self, weak connection] packets in
                    guard let self, let connection else { return }
                    self.handshake(packets, on: connection)
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(connection)
                    // A socket that proves nothing within five seconds is closed.
                    channel.eventLoop.scheduleTask(in: .seconds(5)) { if connection.onClose == nil { connection.close() } }
                }
            }
            .bind(host: settings.listenHost, port: settings.listenPort)
            .get()
        lock.withLock { listener = channel }
        logger.notice("cluster listener on \(settings.listenHost):\(channel.localAddress?.port ?? settings.listenPort)")
    }

    /// The port the cluster listener is bound to.
    public var boundPort: Int? { lock.withLock { listener?.localAddress?.port } }

    public func run() async throws {
        try? await gracefulShutdown()
        let (listener, links) = lock.withLock { () -> (Channel?, [PeerLink]) in
            defer { self.links = [:]; openLinks = [:] }
            return (self.listener, Array(self.links.values))
        }
        try? await listener?.close()
        for link in links { link.stop() }
    }

    // MARK: - Membership (from etcd)

    public func membershipChanged(_ change: Membership.Change) {
        switch change {
        case .joined(let member):
            link(to: member)
        case .left(let member):
            let link = lock.withLock { () -> PeerLink? in
                routes.drop(node: member.name)
                openLinks[member.name] = nil
                return links.removeValue(forKey: member.name)
            }
            if let link {
                logger.notice("node left the cluster: its routes and link are dropped", metadata: ["peer": "\(member.name)"])
                link.stop()
            }
        case .restarted(let old, let new):
            // Everything of the old incarnation is void; the new one announces its routes on its link.
            lock.withLock { routes.drop(node: old.name) }
            link(to: new)
        }
    }

    /// This node joined with `incarnation` (again, after a lost lease): its routes start a new sequence.
    public func serving(incarnation: Int64) {
        let (snapshot, open, members, broker) = lock.withLock { () -> (RouteUpdate?, [PeerLink], Set<String>, BrokerServer?) in
            let members = Set(links.keys)
            guard local.incarnation != incarnation else { return (nil, [], members, self.server) }
            local.rejoined(incarnation: incarnation)
            return (local.snapshot(), Array(openLinks.values), members, self.server)
        }
        // Sessions restored for nodes that are no longer members: their routes go (their queues expire).
        for id in broker?.clientIdentifiers(withPrefix: PeerSession.clientIdentifierPrefix) ?? [] {
            let node = String(id.dropFirst(PeerSession.clientIdentifierPrefix.count))
            if !members.contains(node) { broker?.removeAllSubscriptions(clientIdentifier: id) }
        }
        guard let snapshot else { return }
        for link in open { link.submit(PeerWire.publish(snapshot)) }
    }

    private func link(to member: Member) {
        guard member.name != settings.node else { return }
        let link = lock.withLock { existingOrNewLink(member.name) }
        guard let link else { return }
        // The node whose name sorts first dials; the other accepts.
        guard settings.node < member.name else { return }
        let address = member.addresses.cluster
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            logger.warning("member \(member.name) advertises no usable cluster address '\(address)'")
            return
        }
        link.dial(host: String(address[..<colon]), port: port)
    }

    /// Called under `lock`.
    private func existingOrNewLink(_ peer: String) -> PeerLink? {
        if let link = links[peer] { return link }
        guard let server else { return nil }
        let loops = server.eventLoops
        // A stable hash of the name: the same loop at every start.
        let hash = StableHash.fnv1a(peer.utf8)
        let loop = loops[Int(hash % UInt32(loops.count))]
        let link = PeerLink(peer: peer, loop: loop, owner: self, server: server, logger: logger)
        links[peer] = link
        return link
    }

    // MARK: - Links

    /// The first packets of an accepted socket: its CONNECT decides whether it is a link.
    private func handshake(_ packets: [MQTTPacket], on connection: PeerConnection) {
        guard case .connect(let connect) = packets.first else { return connection.close() }
        let joined = lock.withLock { local.incarnation != 0 }
        let verdict = PeerHandshake.verify(
            connect, cluster: settings.cluster, node: settings.node, secret: settings.secret, joined: joined, proof: connection.proof)
        switch verdict {
        case .refuse(let reason, let why):
            if reason == .serverUnavailable {
                logger.notice("inter-node connection refused: \(why)", metadata: ["remote": "\(connection.remote)"])
            } else {
                logger.warning("inter-node connection refused: \(why)", metadata: ["remote": "\(connection.remote)"])
            }
            connection.onPackets = nil
            connection.send([.connack(MQTTConnack(sessionPresent: false, reasonCode: reason))])
            connection.close()
        case .accept(let peer):
            guard let link = lock.withLock({ existingOrNewLink(peer.node) }) else { return connection.close() }
            link.accepted(connection, answer: PeerHandshake.connack(hello), pending: Array(packets.dropFirst()))
        }
    }

    /// A link opened: from now on it gets every route update; it starts with this snapshot.
    func linkUp(_ link: PeerLink) -> RouteUpdate {
        lock.withLock {
            openLinks[link.peer] = link
            return local.snapshot()
        }
    }

    func linkDown(_ link: PeerLink) {
        let sessions = lock.withLock { () -> ClusterSessions? in
            if openLinks[link.peer] === link { openLinks[link.peer] = nil }
            return sessionsHandler
        }
        sessions?.linkDown(to: link.peer)
    }

    func apply(_ update: RouteUpdate) -> RouteTable.Outcome {
        lock.withLock {
            // A node not (or no longer) a member: its routes would outlive it.
            guard links[update.node] != nil else { return .stale }
            return routes.apply(update)
        }
    }

    /// This node's routes now, for a peer that asked.
    func snapshot() -> RouteUpdate { lock.withLock { local.snapshot() } }

    /// The routes of `node` as applied.
    func routes(of node: String) -> Set<String> { lock.withLock { routes.filters(of: node) } }

    // MARK: - Session takeovers

    /// Where session messages and moving sessions from peers go, set once at start-up.
    var sessions: ClusterSessions? {
        get { lock.withLock { sessionsHandler } }
        set { lock.withLock { sessionsHandler = newValue } }
    }
    private weak var sessionsHandler: ClusterSessions?

    /// Sends a session message to `peer`. - Returns: false when no link to it is open.
    func send(_ message: PeerWire.SessionMessage, to peer: String) -> Bool {
        guard let link = lock.withLock({ openLinks[peer] }) else { return false }
        link.submit(PeerWire.publish(message))
        return true
    }

    func receivedSessionMessage(_ message: PeerWire.SessionMessage, from peer: String) {
        sessions?.received(message, from: peer)
    }

    func receivedSessionTransfer(_ transfer: SessionTransfer, from peer: String, on loop: EventLoop) -> EventLoopFuture<Void> {
        guard let sessions else { return loop.makeFailedFuture(EtcdError("sessions across nodes not started")) }
        return sessions.received(transfer, from: peer, on: loop)
    }

    // MARK: - ClusterRouting (called by the broker)

    /// Every filter but `$SYS` (each node has its own); shared ones too, so that a publishing node
    /// can choose another node for a group that has no member of its own.
    private static func announces(_ filter: String) -> Bool {
        !filter.hasPrefix("$SYS") && MQTTSharedFilter(parsing: filter).map { !$0.filter.hasPrefix("$SYS") } ?? true
    }

    public func localSubscriptionAdded(_ filter: String) {
        guard Self.announces(filter) else { return }
        announce { $0.subscribed(filter) }
    }

    public func localSubscriptionRemoved(_ filter: String) {
        guard Self.announces(filter) else { return }
        announce { $0.unsubscribed(filter) }
    }

    private func announce(_ change: (inout LocalRoutes) -> RouteUpdate?) {
        // Under the lock, so that every open link sees the updates in sequence order.
        lock.withLock {
            guard let update = change(&local) else { return }
            let publish = PeerWire.publish(update)
            for link in openLinks.values { link.submit(publish) }
        }
    }

    // MARK: - Status

    public struct LinkStatus: Sendable {
        public var peer: String
        public var up: Bool
        /// This node's session of the peer: messages waiting, their bytes, and those sent and not acknowledged.
        public var queued: Int
        public var queuedBytes: Int
        public var inflight: Int
        public var forwarded: Int
        public var received: Int
        public var drops: [DropReason: Int]
    }

    public var linkStatus: [LinkStatus] {
        let (links, server) = lock.withLock { (Array(self.links.values), self.server) }
        return links.map { link in
            let status = link.status.withLockedValue { $0 }
            let id = PeerSession.clientIdentifier(for: link.peer)
            let queue = server?.queueStatistics(clientIdentifier: id) ?? (0, 0, 0)
            return LinkStatus(
                peer: link.peer, up: status.up, queued: queue.queued, queuedBytes: queue.queuedBytes, inflight: queue.inflight,
                forwarded: status.forwarded, received: status.received, drops: server?.bridgeDropCounts(clientIdentifier: id) ?? [:])
        }.sorted { $0.peer < $1.peer }
    }

    /// The members with an open link, and since when each other link has been down.
    var linkStates: (up: Set<String>, downSince: [String: NIODeadline]) {
        let links = lock.withLock { Array(self.links.values) }
        var up = Set<String>()
        var downSince: [String: NIODeadline] = [:]
        for link in links {
            let status = link.status.withLockedValue { $0 }
            if status.up { up.insert(link.peer) } else if let since = status.downSince { downSince[link.peer] = since }
        }
        return (up, downSince)
    }

    /// Routes held for other nodes.
    public var routeCount: Int { lock.withLock { routes.count } }
}
