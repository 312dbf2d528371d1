import MeridianMQTT

/// Topic aliases a client set on its PUBLISHes (MQTT 5 section 3.3.2.3.4).
public struct InboundTopicAliases: Sendable {
    public let maximum: UInt16
    private var topics: [UInt16: String] = [:]

    public init(maximum: UInt16) { self.maximum = maximum }

    /// Resolves the topic of a received PUBLISH, recording a new alias mapping when it sets one.
    /// - Throws: `.topicAliasInvalid` for 0 or above the maximum; `.protocolError` for an unknown alias with an empty topic.
    public mutating func resolve(_ publish: inout MQTTPublish) throws(MQTTCodecError) {
        guard let alias = publish.properties.topicAlias else { return }
        guard alias != 0 && alias <= maximum else {
            throw MQTTCodecError(.topicAliasInvalid, "topic alias \(alias) outside 1...\(maximum)", packetType: .publish)
        }
        if publish.topic.isEmpty {
            guard let topic = topics[alias] else {
                throw MQTTCodecError(.protocolError, "topic alias \(alias) was never set", packetType: .publish)
            }
            publish.topic = topic
        } else {
            topics[alias] = publish.topic
        }
    }
}

/// Topic aliases the server assigns on PUBLISHes it sends, when the client allows them.
/// Topics get aliases first come, first served, until the client's maximum is used.
public struct OutboundTopicAliases: Sendable {
    public let maximum: UInt16
    private var aliases: [String: UInt16] = [:]

    public init(maximum: UInt16) { self.maximum = maximum }

    /// Rewrites `publish` to use an alias: the first time with topic and alias, then with an empty topic.
    public mutating func apply(to publish: inout MQTTPublish) {
        guard maximum > 0 else { return }
        if let alias = aliases[publish.topic] {
            publish.properties.append(.topicAlias(alias))
            publish.topic = ""
        } else if aliases.count < Int(maximum) {
            let alias = UInt16(aliases.count + 1)
            aliases[publish.topic] = alias
            publish.properties.append(.topicAlias(alias))
        }
    }
}
