import NIOCore

/// The property list of one MQTT 5 packet, in wire order.
///
/// Stored as a small array: packets without properties (all of MQTT 3.1.1 and most
/// telemetry) cost no allocation, and lookups scan a handful of entries.
public struct MQTTProperties: Hashable, Sendable, ExpressibleByArrayLiteral {
    public var list: [MQTTProperty]

    @inlinable public init() { self.list = [] }
    @inlinable public init(_ list: [MQTTProperty]) { self.list = list }
    @inlinable public init(arrayLiteral elements: MQTTProperty...) { self.list = elements }

    @inlinable public var isEmpty: Bool { list.isEmpty }

    public mutating func append(_ property: MQTTProperty) { list.append(property) }

    /// Removes every property with the given identifier.
    public mutating func remove(_ identifier: MQTTPropertyIdentifier) {
        if list.isEmpty { return }
        list.removeAll { $0.identifier == identifier }
    }

    public var payloadFormatIndicator: UInt8? {
        for case .payloadFormatIndicator(let v) in list { return v }
        return nil
    }
    public var messageExpiryInterval: UInt32? {
        get { for case .messageExpiryInterval(let v) in list { return v }; return nil }
        set { replace(.messageExpiryInterval, with: newValue.map { .messageExpiryInterval($0) }) }
    }
    public var contentType: String? { for case .contentType(let v) in list { return v }; return nil }
    public var responseTopic: String? { for case .responseTopic(let v) in list { return v }; return nil }
    public var correlationData: ByteBuffer? { for case .correlationData(let v) in list { return v }; return nil }
    public var subscriptionIdentifiers: [UInt32] {
        var ids: [UInt32] = []
        for case .subscriptionIdentifier(let v) in list { ids.append(v) }
        return ids
    }
    public var sessionExpiryInterval: UInt32? { for case .sessionExpiryInterval(let v) in list { return v }; return nil }
    public var assignedClientIdentifier: String? { for case .assignedClientIdentifier(let v) in list { return v }; return nil }
    public var serverKeepAlive: UInt16? { for case .serverKeepAlive(let v) in list { return v }; return nil }
    public var authenticationMethod: String? { for case .authenticationMethod(let v) in list { return v }; return nil }
    public var authenticationData: ByteBuffer? { for case .authenticationData(let v) in list { return v }; return nil }
    public var requestProblemInformation: UInt8? { for case .requestProblemInformation(let v) in list { return v }; return nil }
    public var willDelayInterval: UInt32? { for case .willDelayInterval(let v) in list { return v }; return nil }
    public var requestResponseInformation: UInt8? { for case .requestResponseInformation(let v) in list { return v }; return nil }
    public var responseInformation: String? { for case .responseInformation(let v) in list { return v }; return nil }
    public var serverReference: String? { for case .serverReference(let v) in list { return v }; return nil }
    public var reasonString: String? { for case .reasonString(let v) in list { return v }; return nil }
    public var receiveMaximum: UInt16? { for case .receiveMaximum(let v) in list { return v }; return nil }
    public var topicAliasMaximum: UInt16? { for case .topicAliasMaximum(let v) in list { return v }; return nil }
    public var topicAlias: UInt16? {
        get { for case .topicAlias(let v) in list { return v }; return nil }
        set { replace(.topicAlias, with: newValue.map { .topicAlias($0) }) }
    }
    public var maximumQoS: UInt8? { for case .maximumQoS(let v) in list { return v }; return nil }
    public var retainAvailable: UInt8? { for case .retainAvailable(let v) in list { return v }; return nil }
    public var userProperties: [(String, String)] {
        var pairs: [(String, String)] = []
        for case .userProperty(let k, let v) in list { pairs.append((k, v)) }
        return pairs
    }
    public var maximumPacketSize: UInt32? { for case .maximumPacketSize(let v) in list { return v }; return nil }
    public var wildcardSubscriptionAvailable: UInt8? { for case .wildcardSubscriptionAvailable(let v) in list { return v }; return nil }
    public var subscriptionIdentifierAvailable: UInt8? { for case .subscriptionIdentifierAvailable(let v) in list { return v }; return nil }
    public var sharedSubscriptionAvailable: UInt8? { for case .sharedSubscriptionAvailable(let v) in list { return v }; return nil }

    /// Replaces the (single) property with `identifier` by `property`, or removes it when nil.
    public mutating func replace(_ identifier: MQTTPropertyIdentifier, with property: MQTTProperty?) {
        if let index = list.firstIndex(where: { $0.identifier == identifier }) {
            if let property { list[index] = property } else { list.remove(at: index) }
            list.removeAll { $0.identifier == identifier && $0 != property }
        } else if let property {
            list.append(property)
        }
    }
}
