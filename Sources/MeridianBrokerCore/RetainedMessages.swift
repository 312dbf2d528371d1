import MeridianMQTT
import NIOCore

/// Retained messages by topic (MQTT 5 section 3.3.1.3): one per topic, replaced by a newer one,
/// deleted by an empty payload, dropped when expired.
public struct RetainedMessages: Sendable {
    private var messages: [String: BrokerMessage] = [:]

    public init() {}

    public var count: Int { messages.count }

    /// Stores, replaces or (empty payload) deletes the retained message of `message.topic`.
    public mutating func retain(_ message: BrokerMessage) {
        if message.payload.readableBytes == 0 {
            messages[message.topic] = nil
        } else {
            messages[message.topic] = message
        }
    }

    /// Retained messages whose topic matches `filter`, dropping any that expired.
    public mutating func matching(filter: String, now: NIODeadline) -> [BrokerMessage] {
        var result: [BrokerMessage] = []
        var expired: [String] = []
        let isExact = !filter.contains("+") && !filter.contains("#")
        if isExact {
            if let message = messages[filter] {
                if message.isExpired(at: now) { expired.append(filter) } else { result.append(message) }
            }
        } else {
            for (topic, message) in messages where MQTTTopic.matches(filter: filter, topic: topic) {
                if message.isExpired(at: now) { expired.append(topic) } else { result.append(message) }
            }
            result.sort { $0.topic < $1.topic }
        }
        for topic in expired { messages[topic] = nil }
        return result
    }

    /// Removes every expired message. - Returns: how many were removed.
    @discardableResult
    public mutating func removeExpired(now: NIODeadline) -> Int {
        let expired = messages.filter { $0.value.isExpired(at: now) }.map(\.key)
        for topic in expired { messages[topic] = nil }
        return expired.count
    }

}
