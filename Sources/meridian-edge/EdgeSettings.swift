import Logging
import MeridianBridgeCore
import MeridianBroker
import MeridianBrokerCore
import MeridianConfig
import MeridianMQTT

/// Maps the parsed configuration onto the broker's settings.
extension EdgeConfiguration {
    func brokerSettings() -> BrokerSettings {
        var settings = BrokerSettings()
        settings.maxPublishRate = maxPublishRate
        settings.maxKeepalive = maxKeepalive
        settings.maxPacketSize = maxPacketSize
        settings.messageSizeLimit = messageSizeLimit
        settings.maxTopicAlias = UInt16(clamping: maxTopicAlias)
        settings.maxQoS = MQTTQoS(rawValue: UInt8(clamping: maxQoS)) ?? .exactlyOnce
        settings.retainAvailable = retainAvailable
        settings.persistentClientExpiration = persistentClientExpiration.map { UInt32(clamping: $0) }
        settings.sessionLimits = OutboundFlow.Limits(
            maxQueuedMessages: maxQueuedMessages,
            maxQueuedBytes: maxQueuedBytes,
            queueQoS0Messages: queueQoS0Messages,
            maxInflightMessages: maxInflightMessages,
            maxInflightBytes: maxInflightBytes
        )
        settings.sessionLimits.backpressure = queueFullPolicy == .backpressure
        settings.connectionMessages = connectionMessages
        settings.clientIdentifierPrefix = clientIDPrefixes
        settings.connectTimeout = Int64(connectTimeout)
        settings.minimumFreeDiskBytes = persistence ? persistenceMinFree : 0
        settings.logSubscriptions = logTypes.contains(.subscribe)
        return settings
    }

    func listenerSettings(portOverride: Int?) -> [ListenerSettings] {
        if let portOverride {
            return [ListenerSettings(host: "0.0.0.0", port: portOverride)]
        }
        if listeners.isEmpty {
            // Mosquitto 2.0 without a listener: local connections only, on 1883.
            return [ListenerSettings(host: "127.0.0.1", port: 1883)]
        }
        return listeners.map {
            ListenerSettings(
                host: $0.bindAddress ?? ($0.socketDomain == .ipv6 ? "::" : "0.0.0.0"), port: $0.port, maxConnections: $0.maxConnections,
                maxConnectionsPerAddress: $0.maxConnectionsPerAddress
            )
        }
    }

    /// The most verbose level the configured `log_type`s ask for.
    var logLevel: Logger.Level {
        if logTypes.contains(.debug) { return .debug }
        if logTypes.contains(.information) || logTypes.contains(.subscribe) || logTypes.contains(.unsubscribe) { return .info }
        if logTypes.contains(.notice) { return .notice }
        if logTypes.contains(.warning) { return .warning }
        if logTypes.contains(.error) { return .error }
        return .critical
    }
}

extension BridgeSettings {
    /// The first option of this bridge that the bridge runtime does not implement yet, so that
    /// start-up refuses it rather than ignoring it.
    var unsupportedOption: String? {
        if cafile != nil || capath != nil || certfile != nil || keyfile != nil || insecure || tlsVersion != nil || alpn != nil {
            return "TLS to the remote (bridge_cafile, bridge_capath, bridge_certfile, bridge_keyfile, bridge_insecure, bridge_tls_version, bridge_alpn)"
        }
        if localCleanSession == true { return "local_cleansession true (the local session is the durable outbox)" }
        return nil
    }
}
