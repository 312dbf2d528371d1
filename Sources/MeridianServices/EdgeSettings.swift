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
        settings.allowCrossUserTakeover = allowCrossUserTakeover
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
        settings.maxBridgeHops = bridgeMaxHops
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
                host: $0.bindAddress ?? ($0.socketDomain == .ipv6 ? "::" : "0.0.0.0"), port: $0.port,
                maxConnections: $0.maxConnections, maxConnectionsPerAddress: $0.maxConnectionsPerAddress,
                tls: $0.tls.listenerTLSSettings
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

extension EdgeConfiguration.Listener.TLS {
    /// The broker's TLS settings for a listener, `nil` for a plain one.
    var listenerTLSSettings: ListenerTLSSettings? {
        guard isEnabled, let certfile, let keyfile else { return nil }
        return ListenerTLSSettings(
            certfile: certfile, keyfile: keyfile, cafile: cafile, capath: capath,
            minimumVersion: minimumVersion == .tlsv1_3 ? .tls13 : .tls12, ciphers: ciphers,
            requireCertificate: requireCertificate,
            certificateUsername: useIdentityAsUsername ? .commonName : useSubjectAsUsername ? .subject : .none,
            crlfile: crlfile
        )
    }
}

extension BridgeSettings {
    /// The first option of this bridge that the bridge runtime does not implement yet, so that
    /// start-up refuses it rather than ignoring it.
    var unsupportedOption: String? {
        if tlsVersion == "tlsv1.1" { return "bridge_tls_version tlsv1.1 (use tlsv1.2 or tlsv1.3)" }
        return nil
    }
}
