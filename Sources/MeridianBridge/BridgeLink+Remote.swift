import MeridianBridgeCore
import MeridianBrokerCore
import MeridianMQTT
import NIOCore
import NIOPosix

/// The remote side: connect (never blocking an event loop), CONNECT/CONNACK, subscriptions for
/// `in` rules, keep-alive with dead-link detection at 1.5 × keepalive, reconnect with backoff.
extension BridgeLink {
    /// Starts the remote side per `start_type`: at once (`automatic`, `once`), or (`lazy`) when
    /// `threshold` messages are queued, stopping again after `idle_timeout` seconds without traffic.
    func startRemoteSide() {
        guard settings.startType == .lazy else { return connectRemote() }
        logger.notice("lazy bridge: connects when \(settings.threshold) messages are queued")
        lazyTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            // The broker's count covers what the bridge holds too (in flight from the broker's view).
            let queued = server.queueStatistics(clientIdentifier: localClientID).map { $0.queued + $0.inflight } ?? 0
            let action = schedule.lazyCheck(
                down: remote == nil && reconnectTask == nil, up: remoteReady, queued: queued,
                drained: waiting.isEmpty && forwarding.inFlightCount == 0 && forwarding.pendingCount == 0,
                traffic: forwarded + received, now: clock.now)
            switch action {
            case .none:
                break
            case .connect:
                connectRemote()
            case .disconnectIdle:
                logger.notice("lazy bridge idle for \(settings.idleTimeout) s, disconnecting")
                remote?.send(.disconnect(MQTTDisconnect()))
                remote?.flush()
                remote?.close()
            }
        }
    }

    func connectRemote() {
        guard !stopped, localReady, remote == nil, !settings.addresses.isEmpty else { return }
        guard schedule.attemptStarts() else { return }
        schedule.attemptedConnection(now: clock.now)
        let address = settings.addresses[schedule.addressIndex % settings.addresses.count]
        logger.info("connecting", metadata: ["address": "\(address.host):\(address.port)"])
        openRemoteConnection(to: address, timeout: .seconds(10)) { [self] in remote = $0 }
            .whenComplete { [self] result in
                switch result {
                case .success:
                    if let remote { sendRemoteConnect(on: remote) }
                case .failure(let error):
                    logger.notice("cannot connect", metadata: ["address": "\(address.host):\(address.port)", "error": "\(error)"])
                    remote = nil
                    scheduleReconnect(failedAddress: true, wasConnected: false)
                }
            }
    }

    /// Opens a connection to `address` (TLS when the bridge has it) whose handler `adopt` makes the
    /// link's `remote` or its primary probe, before any packet arrives.
    func openRemoteConnection(
        to address: BridgeAddress, timeout: TimeAmount, adopt: @escaping (BridgePacketHandler) -> Void
    ) -> EventLoopFuture<Void> {
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                let handler = makeRemoteHandler()
                adopt(handler)
                return channel.eventLoop.makeCompletedFuture {
                    try remoteTLS?.addHandlers(to: channel, host: address.host, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: address.host, port: address.port)
            .map { _ in }
    }

    /// A handler for a connection to the remote. Its packets and its closing count only while it is
    /// `remote` (or the primary probe): a connection replaced by another is ignored from then on.
    func makeRemoteHandler() -> BridgePacketHandler {
        weak var this: BridgePacketHandler?
        let handler = BridgePacketHandler(
            version: remoteVersion,
            onPacket: { [self] packet in
                guard let this else { return }
                if this === remote { remotePacket(packet) } else if this === primaryProbe { primaryProbePacket(packet) }
            },
            onClose: { [self] error in
                guard let this else { return }
                if this === remote { remoteClosed(error) } else if this === primaryProbe { primaryProbe = nil }
            }
        )
        this = handler
        return handler
    }

    func sendRemoteConnect(on connection: BridgePacketHandler) {
        var properties = MQTTProperties()
        if remoteVersion == .v5 {
            if !settings.cleanSession { properties.append(.sessionExpiryInterval(settings.sessionExpiryInterval)) }
            properties.append(.receiveMaximum(UInt16(clamping: max(1, settings.drainMaxInflight))))
            // Tells a Meridian remote this is a bridge, so it traces the messages it sends us (I5).
            properties.append(.userProperty(MeshTrace.bridgeConnectKey, "1"))
        }
        var will: MQTTWill?
        if settings.notifications && !settings.notificationsLocalOnly {
            will = MQTTWill(topic: notificationTopic, payload: ByteBuffer(string: "0"), qos: .atLeastOnce, retain: true)
        }
        remoteWatchdog = KeepAliveWatchdog(keepAlive: Int(settings.keepaliveInterval), now: clock.now)
        var connect = MQTTConnect(
            protocolVersion: remoteVersion, cleanStart: settings.cleanSession, keepAlive: settings.keepaliveInterval,
            clientIdentifier: remoteClientID, properties: properties, will: will,
            username: settings.remoteUsername, password: settings.remotePassword.map { ByteBuffer(string: $0) }
        )
        connect.isBridge = tryPrivate && remoteVersion != .v5
        connection.send(.connect(connect))
        connection.flush()
        // A remote that accepted TCP but never answers is a dead link too: 1.5 x keepalive (or 30 s).
        let keepalive = Int64(settings.keepaliveInterval)
        let timeout: TimeAmount = keepalive > 0 ? .milliseconds(keepalive * 1500) : .seconds(30)
        loop.scheduleTask(in: timeout) { [self, weak connection] in
            guard let connection else { return }
            if connection === remote && !remoteReady {
                logger.notice("no CONNACK within \(timeout.nanoseconds / 1_000_000) ms, giving up on this address")
                connection.close()
            } else if connection === primaryProbe {
                connection.close()
            }
        }
    }

    /// Mosquitto's notification topic: `$SYS/broker/connection/<remote_clientid>/state`.
    var notificationTopic: String {
        settings.notificationTopic ?? "$SYS/broker/connection/\(remoteClientID)/state"
    }

    private func remotePacket(_ packet: MQTTPacket) {
        remoteWatchdog?.heard(at: clock.now)
        switch packet {
        case .connack(let connack):
            remoteConnack(connack)
        case .publish(let publish):
            inboundFromRemote(publish)
        case .puback(let ack):
            remoteAcknowledged(ack, kind: .puback)
        case .pubrec(let ack):
            remoteAcknowledged(ack, kind: .pubrec)
        case .pubcomp(let ack):
            remoteAcknowledged(ack, kind: .pubcomp)
        case .pubrel(let ack):
            inboundReleased(ack.packetIdentifier)
        case .disconnect(let disconnect):
            logger.notice("remote disconnected the bridge", metadata: ["reason": "\(disconnect.reasonCode)"])
        case .suback, .unsuback, .pingresp:
            break
        default:
            logger.notice("unexpected packet from the remote: \(packet.type)")
            remote?.close()
        }
    }

    func remoteConnack(_ connack: MQTTConnack) {
        lastConnack = connack
        guard connack.reasonCode == .success else {
            // An MQTT 5 bridge falls back to 3.1.1 when the remote refuses 5.0.
            if remoteVersion == .v5 && (connack.reasonCode == .unsupportedProtocolVersion || connack.reasonCode == .v3UnacceptableProtocolVersion) {
                logger.notice("remote refused MQTT 5, falling back to 3.1.1")
                remoteVersion = .v3_1_1
            } else if tryPrivate && connack.reasonCode == .v3UnacceptableProtocolVersion {
                logger.notice("remote refused the try_private bridge marker, connecting as a plain client")
                tryPrivate = false
            } else if let reference = connack.properties.serverReference {
                logger.warning("remote refused the bridge and names another server", metadata: [
                    "reason": "\(connack.reasonCode)", "server_reference": "\(reference)",
                ])
            } else {
                logger.warning("remote refused the bridge", metadata: ["reason": "\(connack.reasonCode)"])
            }
            remote?.close()
            return
        }
        remoteReady = true
        schedule.connected(now: clock.now)
        remoteRetainAvailable = (connack.properties.retainAvailable ?? 1) == 1
        remoteMaximumPacketSize = connack.properties.maximumPacketSize.map { Int($0) }
        logger.notice("connected", metadata: ["session_present": "\(connack.sessionPresent)"])
        let subscriptions = map.remoteSubscriptions.map { subscription in
            MQTTSubscription(topicFilter: subscription.filter, options: MQTTSubscriptionOptions(
                qos: subscription.qos, noLocal: true, retainAsPublished: true,
                retainHandling: connack.sessionPresent ? .sendOnNewSubscribe : .sendOnSubscribe))
        }
        if !subscriptions.isEmpty {
            remote?.send(.subscribe(MQTTSubscribe(packetIdentifier: 1, subscriptions: subscriptions)))
        }
        if settings.notifications {
            publishNotification(connected: true)
        }
        // The drain starts on CONNACK: what was in flight first, then the queue.
        forwardingConnected(connack)
        startKeepAlive()
        startPrimaryProbe()
    }

    private func publishNotification(connected: Bool) {
        let payload = ByteBuffer(string: connected ? "1" : "0")
        local?.send(.publish(MQTTPublish(topic: notificationTopic, payload: payload, qos: .atMostOnce, retain: true)))
        local?.flush()
        if connected && !settings.notificationsLocalOnly {
            remote?.send(.publish(MQTTPublish(topic: notificationTopic, payload: payload, qos: .atMostOnce, retain: true)))
        }
    }

    private func startKeepAlive() {
        keepAliveTask?.cancel()
        let keepalive = Int64(settings.keepaliveInterval)
        guard keepalive > 0 else { return }
        keepAliveTask = loop.scheduleRepeatedTask(initialDelay: .milliseconds(keepalive * 500), delay: .milliseconds(keepalive * 500)) { [self] task in
            guard remoteReady, let remote else { return task.cancel() }
            if remoteWatchdog?.check(now: clock.now) == .expired {
                logger.notice("remote silent for 1.5 x keepalive, reconnecting")
                remote.close()
                return
            }
            remote.send(.pingreq)
            remote.flush()
        }
    }

    private func remoteClosed(_ error: Error?) {
        let wasReady = remoteReady
        remoteReady = false
        remote = nil
        keepAliveTask?.cancel()
        stopPrimaryProbe()
        forwarding.connectionLost()
        inbound.removeAll()
        if wasReady {
            reconnects += 1
            logger.notice("connection lost", metadata: ["error": "\(error.map { "\($0)" } ?? "closed")"])
            if settings.notifications { publishNotification(connected: false) }
        }
        scheduleReconnect(failedAddress: !wasReady, wasConnected: wasReady)
    }

    private func scheduleReconnect(failedAddress: Bool, wasConnected: Bool) {
        guard !stopped, reconnectTask == nil else { return }
        var generator = SystemRandomNumberGenerator()
        switch schedule.ended(failedAddress: failedAddress, wasConnected: wasConnected, now: clock.now, using: &generator) {
        case .none:
            if settings.startType == .once { logger.notice("start_type once: the bridge is not restarted") }
        case .reconnect(let delay):
            let (seconds, attoseconds) = delay.components
            reconnectTask = loop.scheduleTask(in: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)) { [self] in
                reconnectTask = nil
                connectRemote()
            }
        }
    }
}
