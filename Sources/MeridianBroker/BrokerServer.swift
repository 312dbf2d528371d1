import Logging
import MeridianBrokerCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import MeridianStore

/// A TCP listener of the broker, plain or TLS.
public struct ListenerSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Connections accepted at once on this listener; -1 = unlimited.
    public var maxConnections: Int
    /// Connections accepted at once on this listener from one source IP address; -1 = unlimited.
    public var maxConnectionsPerAddress: Int
    /// TLS settings; `nil` for a plain TCP listener.
    public var tls: ListenerTLSSettings?

    public init(
        host: String, port: Int, maxConnections: Int = -1, maxConnectionsPerAddress: Int = -1,
        tls: ListenerTLSSettings? = nil
    ) {
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.tls = tls
    }
}

/// The running broker: event loops, listeners, `$SYS` and housekeeping timers.
public final class BrokerServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var broker: BrokerSettings
        public var listeners: [ListenerSettings]
        /// Seconds between `$SYS` updates; 0 = off.
        public var sysInterval: Int
        public var tcpNoDelay: Bool
        public var version: String
        /// The store's directory, watched for `BrokerSettings.minimumFreeDiskBytes`.
        public var storeDirectory: String?
        /// Authentication and ACL at start-up; ``BrokerServer/updateSecurity(_:)`` replaces it.
        public var security: SecurityPolicy

        public init(
            broker: BrokerSettings, listeners: [ListenerSettings], sysInterval: Int = 10, tcpNoDelay: Bool = true,
            version: String, storeDirectory: String? = nil, security: SecurityPolicy = .init()
        ) {
            self.security = security
            self.storeDirectory = storeDirectory
            self.broker = broker
            self.listeners = listeners
            self.sysInterval = sysInterval
            self.tcpNoDelay = tcpNoDelay
            self.version = version
        }
    }

    let configuration: Configuration
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    /// The event loop group, for servers that run beside the broker (the operations endpoint).
    public var eventLoopGroup: EventLoopGroup { group }
    /// Who this broker is: its id and the number of this start.
    public var node: NodeIdentity { broker.node }
    /// The clock of every decision, for components that run beside the broker (bridge links).
    public var clock: any MonotonicClock { broker.clock }
    let broker: Broker
    let contexts: [LoopContext]
    private var channels: [Channel] = []
    private let connectionIDs = NIOLockedValueBox<UInt64>(0)
    private var sysTask: RepeatedTask?
    /// Listeners bound and not yet closed by ``shutdown()``, for readiness.
    private let listening = NIOLockedValueBox(0)

    /// Whether every configured listener is bound and the broker is not shutting down.
    public var isListening: Bool {
        listening.withLockedValue { $0 } == configuration.listeners.count && !broker.isShuttingDown
    }
    private var diskTask: RepeatedTask?
    /// Each bridge's state as the store held it at start-up (``bridgeState(named:)``).
    private let recoveredBridgeState: [String: [String: String]]
    private let bridgeStates = NIOLockedValueBox<[String: BridgeState]>([:])

    /// - Parameters:
    ///   - store: the durable store (`persistence true`), or nil to keep everything in memory.
    ///   - recovered: what the store held at start-up, restored before the listeners open; its node
    ///     identity is the broker's (without a store: a random id, incarnation 1).
    ///   - clock: the clock of every decision (tests may pass a ``ManualClock``).
    ///   - admission: the seam every CONNECT passes (``SessionAdmission``); the edge admits locally.
    public init(
        configuration: Configuration, logger: Logger, threads: Int = System.coreCount,
        store: DurableStore? = nil, recovered: RecoveredState? = nil, admission: SessionAdmission = LocalAdmission(),
        cluster: ClusterRouting? = nil, clock: any MonotonicClock = SystemClock()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let node = recovered?.node.map { NodeIdentity(id: $0.id, incarnation: $0.incarnation) } ?? .ephemeral()
        self.broker = Broker(
            settings: configuration.broker, logger: logger, store: store, security: configuration.security,
            admission: admission, cluster: cluster, node: node, clock: clock)
        let loops = Array(group.makeIterator())
        let contexts = loops.enumerated().map { LoopContext(eventLoop: $1, index: $0, loopCount: loops.count, clock: clock) }
        for context in contexts { context.peers = contexts }
        self.contexts = contexts
        self.recoveredBridgeState = recovered?.bridgeState ?? [:]
        if let recovered {
            let broker = self.broker
            try? contexts[0].eventLoop.submit { broker.restore(recovered, via: contexts[0]) }.wait()
        }
    }

    /// The ports actually bound (useful when a listener asked for port 0).
    public private(set) var boundPorts: [Int] = []

    /// Binds every listener. Throws if one cannot be bound, or if a TLS listener's certificate,
    /// key, CA or CRL file cannot be read (the error names the file).
    public func start() throws {
        // Every TLS file is read before any listener opens, so a bad one stops start-up cleanly.
        let tlsStates = try configuration.listeners.map { try $0.tls.map(ServerTLS.load) }
        for (listener, tls) in zip(configuration.listeners, tlsStates) {
            let limit = listener.maxConnections
            let active = NIOLockedValueBox(0)
            let perAddress = ConnectionsPerAddress(limit: listener.maxConnectionsPerAddress)
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: configuration.tcpNoDelay ? 1 : 0)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
                // Starts small: NIO keeps each channel's receive buffer, so an idle connection holds
                // 64 B instead of 512; busy ones grow it after full reads.
                .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 64, maximum: 65_536))
                .childChannelInitializer { [self] channel in
                    // Counted only when limited: an idle connection carries no close callback otherwise.
                    if limit >= 0 {
                        let count = active.withLockedValue { $0 += 1; return $0 }
                        channel.closeFuture.whenComplete { _ in active.withLockedValue { $0 -= 1 } }
                        if count > limit {
                            broker.recordRefusal(ConnectionRefusal.maxConnections)
                            logger.warning("max_connections \(limit) reached, refusing connection", metadata: [
                                "remote": "\(channel.remoteAddress.map { "\($0)" } ?? "?")",
                            ])
                            return channel.close()
                        }
                    }
                    if let perAddress, !perAddress.admit(channel) {
                        logger.warning("max_connections_per_address \(perAddress.limit) reached, refusing connection",
                                       metadata: ["address": "\(channel.remoteAddress?.ipAddress ?? "unknown")"])
                        return channel.close()
                    }
                    if let tls {
                        do {
                            try addTLSHandlers(tls, to: channel)
                        } catch {
                            return channel.close()
                        }
                    }
                    return addConnection(
                        to: channel, certificateUsername: tls?.certificateUsername ?? .none,
                        requireCertificate: tls?.requireCertificate ?? false)
                }
            let channel = try bootstrap.bind(host: listener.host, port: listener.port).wait()
            channels.append(channel)
            let port = channel.localAddress?.port ?? listener.port
            boundPorts.append(port)
            listening.withLockedValue { $0 += 1 }
            logger.notice("listening", metadata: ["address": "\(listener.host):\(port)", "tls": "\(tls != nil)"])
        }
        startTimers()
    }

    /// TLS in front of the MQTT handler: NIOSSL does the handshake on the channel's event loop,
    /// without blocking it; the identity handler logs handshake failures and reads the certificate.
    private func addTLSHandlers(_ tls: ServerTLS, to channel: Channel) throws {
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(tls.makeHandler())
        try operations.addHandler(TLSIdentityHandler(source: tls.certificateUsername, logger: logger))
    }

    private func addConnection(
        to channel: Channel,
        certificateUsername: ListenerTLSSettings.CertificateUsername = .none, requireCertificate: Bool = false
    ) -> EventLoopFuture<Void> {
        let loop = channel.eventLoop
        guard let context = contexts.first(where: { $0.eventLoop === loop }) else {
            return channel.close()
        }
        let id = connectionIDs.withLockedValue { $0 += 1; return $0 }
        return loop.makeCompletedFuture {
            let handler = MQTTConnectionHandler(broker: broker, loopContext: context, connectionID: id)
            handler.certificateUsernameSource = certificateUsername
            handler.listenerRequiresCertificate = requireCertificate
            try channel.pipeline.syncOperations.addHandler(handler)
        }
    }

    /// The durable state of the bridge named `name` (the same object for every call, so a bridge
    /// restarted by a reload sees what it wrote before).
    public func bridgeState(named name: String) -> BridgeState {
        bridgeStates.withLockedValue { states in
            if let state = states[name] { return state }
            let state = BridgeState(bridge: name, store: broker.store, recovered: recoveredBridgeState[name] ?? [:])
            states[name] = state
            return state
        }
    }

    /// Puts a reloaded password file, ACL and `allow_anonymous` in force; disconnects the clients
    /// whose credential no longer lets them in (see ``Broker/applySecurity(_:)``).
    /// Closes every client connection with `reason` and, for MQTT 5, a Server Reference (a fenced
    /// region node); bridges of this node stay up.
    public func sendClientsElsewhere(reason: MQTTReasonCode, serverReference: String?) {
        broker.sendClientsElsewhere(reason: reason, serverReference: serverReference)
    }

    /// Ends the session of `clientIdentifier` because another node takes it over for a client
    /// logged in as `username`: its connection, if any, gets DISCONNECT 0x8E Session taken over. A
    /// session of another user stays (I8). With `movingTo`, a persistent session's subscriptions and
    /// what it still owes its client go to that node as the message `transfer` makes of them, and
    /// what still comes here for it follows (``Broker/endSession(clientIdentifier:for:movingTo:transfer:via:)``).
    /// Call on one of the broker's loops (``onBrokerLoop(_:)``).
    /// - Returns: how it ended, and whether its state went to `movingTo`.
    public func endSession(
        clientIdentifier: String, forUsername username: String?, movingTo peer: String?, on eventLoop: EventLoop,
        transfer: (TakenSession) -> BrokerMessage
    ) -> (SessionEnding, moved: Bool) {
        broker.endSession(
            clientIdentifier: clientIdentifier, for: .client(username: username), movingTo: peer, transfer: transfer, via: context(of: eventLoop))
    }

    /// Runs `body` on one of the broker's loops: at once when called on one, else on the first.
    public func onBrokerLoop(_ body: @escaping @Sendable (EventLoop) -> Void) {
        if let current = MultiThreadedEventLoopGroup.currentEventLoop, contexts.contains(where: { $0.eventLoop === current }) {
            body(current)
        } else {
            let loop = contexts[0].eventLoop
            loop.execute { body(loop) }
        }
    }

    /// Installs a session that moved here from another node; call on one of the broker's loops.
    /// - Parameter marking: a value set in `state` in the same transaction as the session's rows
    ///   (a region node remembers which transfer it installed, so that a resend after a restart is not installed again).
    /// - Returns: the commit of its rows (at once without persistence).
    public func installSession(
        _ taken: TakenSession, on eventLoop: EventLoop, marking: (state: BridgeState, key: String, value: String)? = nil
    ) -> EventLoopFuture<Void> {
        broker.install(taken, via: context(of: eventLoop), marking: marking)
    }

    public func updateSecurity(_ policy: SecurityPolicy) {
        broker.applySecurity(policy)
    }

    /// A session's queue, for status figures of components built on local clients (bridges).
    public func queueStatistics(clientIdentifier: String) -> (queued: Int, queuedBytes: Int, inflight: Int)? {
        broker.queueStatistics(clientIdentifier: clientIdentifier)
    }

    /// Seconds the oldest message a session still owes its client has waited (queued, or sent and
    /// not acknowledged); nil when it owes none. For bridge status: the outbox's oldest message.
    public func oldestWaitingAge(clientIdentifier: String) -> Double? {
        broker.oldestWaitingAge(clientIdentifier: clientIdentifier, now: clock.now)
    }

    /// Counts (and logs, rate-limited) a message a component built on a local client dropped
    /// because its queue was full, with the broker's own drops.
    public func recordDrop(_ reason: DropReason, clientIdentifier: String) {
        broker.recordDrop(reason, clientIdentifier: clientIdentifier, now: clock.now)
    }

    /// The filters a session subscribes to, or nil when there is no such session.
    public func subscriptionFilters(clientIdentifier: String) -> Set<String>? {
        broker.subscriptionFilters(clientIdentifier: clientIdentifier)
    }

    /// The client identifiers of the sessions held (connected or not) that start with `prefix`.
    public func clientIdentifiers(withPrefix prefix: String) -> [String] {
        broker.lock.withLock { broker.sessions.keys.filter { $0.hasPrefix(prefix) } }
    }

    /// Ends every subscription of a session, connected or not; its queue stays until it expires.
    public func removeAllSubscriptions(clientIdentifier: String) {
        broker.removeAllSubscriptions(clientIdentifier: clientIdentifier)
    }

    /// The messages dropped from a bridge's or a peer node's session queue (its outbox), by reason.
    public func bridgeDropCounts(clientIdentifier: String) -> [DropReason: Int] {
        broker.lock.withLock { broker.bridgeDrops[clientIdentifier] ?? [:] }
    }

    /// Seconds between `$SYS` updates (0 = off).
    public var sysInterval: Int { configuration.sysInterval }

    /// The event loops, for components that run beside the broker (bridge links).
    public var eventLoops: [EventLoop] { contexts.map(\.eventLoop) }

    /// Opens an in-process client of the broker on `eventLoop` (which must be one of the broker's):
    /// a session of the broker's own, served like any client but with packets handed over as
    /// values, and with `sessionLimits` in place of the configured queue and in-flight limits. It
    /// is trusted: no authentication, no ACL, no publish rate. The bridge's local side is one.
    /// - Parameters:
    ///   - onPacket: each packet the broker sends the client, on `eventLoop`.
    ///   - onClose: called once, on `eventLoop`, when either side closed the connection.
    public func openInProcessClient(
        on eventLoop: EventLoop, sessionLimits: OutboundFlow.Limits,
        onPacket: @escaping (MQTTPacket) -> Void, onClose: @escaping () -> Void
    ) -> InProcessClient {
        let context = contexts.first { $0.eventLoop === eventLoop } ?? contexts[0]
        let id = connectionIDs.withLockedValue { $0 += 1; return $0 }
        let handler = MQTTConnectionHandler(broker: broker, loopContext: context, connectionID: id)
        let client = InProcessClient(
            server: handler, loop: context.eventLoop, sessionLimits: sessionLimits, onPacket: onPacket, onClose: onClose)
        handler.transport = .inProcess(client)
        return client
    }

    /// What routing a message from another node did.
    public enum PeerRouteResult: Sendable {
        /// Routed, and what it left in the store committed: the peer may forget it.
        case routed
        /// Not taken (a full queue with the refuse policy, the disk floor, or a failed commit).
        case refused
        /// Routed; the store commits what it left: routed or refused once they complete.
        case committing(EventLoopFuture<Bool>)
    }

    /// Routes a message that arrived from another node (``BrokerMessage/fromPeer``) to this node's
    /// sessions only: to one member of `sharedGroup` (the node chose this one for that group), or
    /// else to the plain subscriptions. Call on one of the broker's event loops, then
    /// ``flushPeerRoutes(on:)`` once per batch; the link acknowledges the message when the result
    /// says it is committed.
    ///
    /// - Parameters:
    ///   - now: the batch's time (one clock read per batch, not per message).
    ///   - recorded: a commit the acknowledgement waits for as well (a QoS 2 message's identifier, ``peerQoS2Arrived(_:dup:clientIdentifier:on:)``).
    ///   - movedSession: the client id of a session that moved here from the sending node, which
    ///     forwarded the message for it (``Broker/routeForMovedSession(_:clientIdentifier:via:now:)``).
    public func routeFromPeer(
        _ message: BrokerMessage, sharedGroup: String?, movedSession: String? = nil, now: NIODeadline, on eventLoop: EventLoop,
        recorded: EventLoopFuture<Void>? = nil
    ) -> PeerRouteResult {
        let context = self.context(of: eventLoop)
        var outcome = movedSession.map { broker.routeForMovedSession(message, clientIdentifier: $0, via: context, now: now) }
            ?? broker.route(message, via: context, now: now, peerSharedGroup: sharedGroup)
        if outcome.refused { return .refused }
        if let recorded { outcome.commits.append(recorded) }
        if outcome.commits.isEmpty { return .routed }
        return .committing(EventLoopFuture.whenAllComplete(outcome.commits, on: eventLoop).map { results in
            results.allSatisfy { if case .success = $0 { return true } else { return false } }
        })
    }

    /// Hands the deliveries of a batch of ``routeFromPeer(_:on:)`` to their connections.
    public func flushPeerRoutes(on eventLoop: EventLoop) {
        context(of: eventLoop).flush()
    }

    private func context(of eventLoop: EventLoop) -> LoopContext {
        let context = contexts.first { $0.eventLoop === eventLoop } ?? contexts[0]
        precondition(context.eventLoop.inEventLoop, "a peer's message routed off its event loop")
        return context
    }

    private func startTimers() {
        let loop = contexts[0].eventLoop
        if let directory = configuration.storeDirectory, configuration.broker.minimumFreeDiskBytes > 0 {
            let floor = configuration.broker.minimumFreeDiskBytes
            let broker = self.broker
            let logger = self.logger
            diskTask = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(1)) { _ in
                var stats = statvfs()
                guard statvfs(directory, &stats) == 0 else { return }
                let free = Int(stats.f_bavail) &* Int(stats.f_frsize)
                let low = free < floor
                let changed = broker.diskLow.withLockedValue { was in
                    defer { was = low }
                    return was != low
                }
                if changed {
                    if low {
                        logger.warning("store disk below its free-space floor: refusing new stored messages", metadata: ["free": "\(free)", "floor": "\(floor)"])
                    } else {
                        logger.notice("store disk above its free-space floor again", metadata: ["free": "\(free)"])
                    }
                }
            }
        }
        let interval = configuration.sysInterval
        let sys = SysTopicPublisher(server: self)
        let period = TimeAmount.seconds(Int64(max(interval, 1)))
        sysTask = loop.scheduleRepeatedTask(initialDelay: interval > 0 ? .milliseconds(100) : period, delay: period) { [self] _ in
            broker.removeExpiredRetained(now: broker.clock.now)
            if interval > 0 { sys.publish() }
        }
    }

    /// Graceful shutdown: stop accepting, then stop the event loops, which closes every connection
    /// (wills are not sent for a server shutdown).
    public func shutdown() {
        broker.beginShutdown()
        listening.withLockedValue { $0 = 0 }
        sysTask?.cancel()
        diskTask?.cancel()
        for channel in channels { try? channel.close().wait() }
        try? group.syncShutdownGracefully()
        logger.notice("stopped")
    }
}
