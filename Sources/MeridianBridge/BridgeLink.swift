import Logging
import MeridianBridgeCore
import MeridianBroker
import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import NIOPosix

/// One bridge: a session of the broker's own (an ``InProcessClient``: packets as values, no socket)
/// and an MQTT client of the remote broker, joined by the topic map. Confined to one event loop.
///
/// The outbox is the local client's persistent session: the broker stores every QoS 1/2 message
/// for it before acknowledging the device (I1), and the bridge acknowledges a message locally only
/// after the remote acknowledged it (PUBACK, or PUBCOMP for QoS 2), which is when the broker
/// deletes its row (I2). While the remote is away the session queue grows in the store; when it
/// returns, the broker drains it into the bridge's window.
public final class BridgeLink: @unchecked Sendable {
    let settings: BridgeSettings
    /// TLS to the remote (`bridge_cafile` …), or `nil` for plain TCP.
    let remoteTLS: BridgeTLS?
    let map: BridgeTopicMap
    let server: BrokerServer
    let loop: EventLoop
    var logger: Logger
    let localClientID: String
    let remoteClientID: String

    /// The local side: the bridge's own session in the broker (its outbox), reached in process.
    var local: InProcessClient?
    var localReady = false
    var remote: BridgePacketHandler?
    var remoteReady = false
    var remoteVersion: MQTTProtocolVersion
    /// The remote's CONNACK limits (MQTT 5) for QoS 0 messages, which bypass the window.
    var remoteRetainAvailable = true
    var remoteMaximumPacketSize: Int?
    /// `start_type lazy`: the check that starts the link at `threshold` and stops it after `idle_timeout`.
    var lazyTask: RepeatedTask?
    /// `drain_rate`: messages and bytes per second, each a bucket refilled continuously up to one
    /// second's worth (nil: no limit of that kind).
    var messageRate: TokenBucket?
    var byteRate: TokenBucket?
    var ratePumpScheduled = false
    /// Cleared when the remote refused the `try_private` bridge marker.
    var tryPrivate: Bool
    /// Where and when the link connects: address, start type, backoff (pure).
    var schedule: LinkSchedule
    var stopped = false
    var reconnectTask: Scheduled<Void>?
    var keepAliveTask: RepeatedTask?
    var statusTask: RepeatedTask?
    /// The remote's liveness while connected (nil with `keepalive_interval 0`).
    var remoteWatchdog: KeepAliveWatchdog?
    /// The broker's clock: every decision of the link reads the time here.
    let clock: any MonotonicClock
    /// What this link keeps across restarts (the store's `bridge_state`), for decisions such as
    /// following a promoted cluster by its epoch.
    public let state: BridgeState
    /// The remote's last CONNACK, with its properties (user properties such as a cluster's
    /// `meridian-cluster` and `meridian-epoch`, Server Reference); nil before the first.
    public internal(set) var lastConnack: MQTTConnack?
    /// With `round_robin false`, while connected to a secondary address: the periodic attempt to
    /// connect to the primary, and the connection it has open.
    var primaryProbeTask: RepeatedTask?
    var primaryProbe: BridgePacketHandler?

    /// A local QoS 1/2 message on its way to the remote, held until the remote acknowledged it.
    struct Held {
        /// Its packet identifier on the local session, acknowledged when the remote acknowledged it.
        var localID: UInt16?
        var localQoS: MQTTQoS
        /// The PUBLISH for the remote: mapped topic, the rule's QoS, properties for its version.
        var publish: MQTTPublish
    }
    /// The window over the held messages: resends, capacity, acknowledgements (pure state).
    var forwarding: ForwardingWindow
    var held: [OutboxID: Held] = [:]
    var lastOutboxID: OutboxID = 0
    /// Held messages not yet handed to the window (it takes what it has room for; `drain_rate`
    /// holds the rest back), in acceptance order.
    var waiting = CircularBuffer<OutboxID>(initialCapacity: 16)
    /// Local packet identifiers already held, so a local resend (DUP) is not forwarded twice.
    var heldLocalIDs: Set<UInt16> = []
    /// QoS 0 messages waiting for the remote (memory only; `queue_qos0`).
    var qos0Buffer = CircularBuffer<MQTTPublish>(initialCapacity: 16)
    var qos0BufferBytes = 0
    /// Remote QoS 1/2 messages forwarded locally under the same packet identifier.
    var inbound: [UInt16: MQTTQoS] = [:]

    /// Counters for status and logs.
    var forwarded = 0, received = 0, refusedByRemote = 0, reconnects = 0
    /// Messages dropped from this bridge's outbox (queue bounds, age, size, disk floor), by reason.
    var drops: [DropReason: Int] { server.bridgeDropCounts(clientIdentifier: localClientID) }

    public init(settings: BridgeSettings, server: BrokerServer, loop: EventLoop, logger: Logger) throws {
        self.settings = settings
        self.map = try BridgeTopicMap(rules: settings.topics)
        self.server = server
        self.loop = loop
        var logger = logger
        logger[metadataKey: "bridge"] = "\(settings.name)"
        self.logger = logger
        let remoteID = settings.remoteClientID ?? "\(Self.hostname()).\(settings.name)"
        self.remoteClientID = remoteID
        self.localClientID = settings.localClientID ?? "local.\(remoteID)"
        self.remoteVersion = settings.protocolVersion == .mqttv50 ? .v5 : .v3_1_1
        self.schedule = LinkSchedule(settings: settings)
        self.forwarding = ForwardingWindow(drainMaxInflight: settings.drainMaxInflight)
        self.tryPrivate = settings.tryPrivate
        self.remoteTLS = try BridgeTLS.load(settings)
        self.clock = server.clock
        self.state = server.bridgeState(named: settings.name)
        let now = server.clock.now
        if settings.drainRateMessages > 0 {
            self.messageRate = TokenBucket(rate: settings.drainRateMessages, full: false, now: now)
        }
        if settings.drainRateBytes > 0 {
            self.byteRate = TokenBucket(rate: settings.drainRateBytes, full: false, now: now)
        }
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(cString: buffer)
    }

    /// The local session's limits: the bridge's own quotas, and its window as in-flight limit.
    var localSessionLimits: OutboundFlow.Limits {
        var limits = OutboundFlow.Limits(
            maxQueuedMessages: settings.maxQueuedMessages, maxQueuedBytes: settings.maxQueuedBytes,
            queueQoS0Messages: false, maxInflightMessages: settings.drainMaxInflight
        )
        limits.dropOldest = settings.queueOverflow == .dropOldest
        limits.maxMessageAge = settings.maxMessageAge
        limits.refuseWhenFull = settings.queueOverflow == .refuse
        return limits
    }

    // MARK: - Start and stop

    /// Connects the local side, then the remote side. Call once.
    public func start() {
        loop.execute { [self] in startLocalSide() }
    }

    private func startLocalSide() {
        let client = server.openInProcessClient(
            on: loop, sessionLimits: localSessionLimits,
            onPacket: { [self] in localPacket($0) },
            onClose: { [self] in localClosed() })
        local = client
        // local_cleansession true: the outbox starts empty at every start of the bridge and lives in
        // memory only (session expiry 0); it still holds messages across remote outages.
        let localClean = settings.localCleanSession ?? false
        client.send(.connect(MQTTConnect(
            protocolVersion: .v5, cleanStart: localClean, keepAlive: 0, clientIdentifier: localClientID,
            properties: [
                .sessionExpiryInterval(localClean ? 0 : UInt32.max),
                .receiveMaximum(UInt16(clamping: settings.drainMaxInflight)),
                .userProperty(MeshTrace.bridgeConnectKey, "1"),
            ]
        )))
        client.flush()
    }

    /// Closes both sides; the outbox stays in the store.
    public func stop() {
        loop.execute { [self] in
            stopped = true
            reconnectTask?.cancel()
            keepAliveTask?.cancel()
            stopPrimaryProbe()
            statusTask?.cancel()
            lazyTask?.cancel()
            remote?.close()
            local?.close()
        }
    }

    private func localClosed() {
        localReady = false
        local = nil
        if !stopped { logger.error("the local side of the bridge closed") }
    }

    // MARK: - Local side

    private func localPacket(_ packet: MQTTPacket) {
        switch packet {
        case .connack(let connack):
            guard connack.reasonCode == .success else {
                logger.error("local broker refused the bridge: \(connack.reasonCode)")
                return
            }
            let subscriptions = map.localSubscriptions.map { subscription in
                MQTTSubscription(topicFilter: subscription.filter, options: MQTTSubscriptionOptions(
                    qos: subscription.qos, noLocal: true, retainAsPublished: settings.outgoingRetain,
                    retainHandling: .sendOnNewSubscribe))
            }
            startStatus()
            if subscriptions.isEmpty {
                localReady = true
                startRemoteSide()
            } else {
                local?.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: subscriptions)))
            }
        case .suback:
            if !localReady {
                localReady = true
                startRemoteSide()
            }
        case .publish(let publish):
            outboundFromLocal(publish)
        case .pubrel(let ack):
            local?.send(.pubcomp(MQTTAck(packetIdentifier: ack.packetIdentifier)))
        case .puback(let ack):
            inboundAcknowledged(ack.packetIdentifier, final: true, reason: ack.reasonCode)
        case .pubrec(let ack):
            inboundAcknowledged(ack.packetIdentifier, final: false, reason: ack.reasonCode)
        case .pubcomp(let ack):
            if inbound.removeValue(forKey: ack.packetIdentifier) != nil {
                remote?.send(.pubcomp(MQTTAck(packetIdentifier: ack.packetIdentifier)))
            }
        case .disconnect(let disconnect):
            logger.error("local broker disconnected the bridge: \(disconnect.reasonCode)")
        default:
            break
        }
    }
}
