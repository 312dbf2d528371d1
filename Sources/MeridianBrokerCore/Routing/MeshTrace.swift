import MeridianMQTT

/// Loop protection across bridges (invariant I5): two MQTT 5 user properties that every message
/// carries when it crosses a bridge.
///
/// - `meridian-id`: the message's identity, `<node>-<sequence>`, given by the first Meridian
///   broker it reached. A broker that receives an identity it has seen recently over a bridge —
///   or its own — drops the message: it came around a loop.
/// - `meridian-hops`: the bridge links it has crossed. A broker delivers a message with
///   `hops >= bridge_max_hops` to its own subscribers but not to its bridges, so a message never
///   travels further than the limit, whatever the topology.
///
/// No Local (MQTT 5) and `try_private` (3.1.1) stop a message from going back over the link it came
/// from; these properties stop it where a loop runs through several brokers, Mosquitto ones
/// included (they pass user properties on unchanged). MQTT 3.1.1 links carry no properties.
public enum MeshTrace {
    public static let idKey = "meridian-id"
    public static let hopsKey = "meridian-hops"
    /// The CONNECT user property by which an MQTT 5 bridge tells the broker it is one.
    public static let bridgeConnectKey = "meridian-bridge"

    /// What a received message says about its journey.
    public struct Received: Equatable, Sendable {
        /// Links crossed before the last one (0 when the property is absent or malformed).
        public var hops: Int
        public var id: String?

        public init(hops: Int, id: String?) {
            self.hops = hops
            self.id = id
        }
    }

    public static func read(_ properties: MQTTProperties) -> Received {
        var received = Received(hops: 0, id: nil)
        for case .userProperty(let key, let value) in properties.list {
            if key == hopsKey, let hops = Int(value), hops >= 0 {
                received.hops = hops
            } else if key == idKey {
                received.id = value
            }
        }
        return received
    }

    /// Replaces any trace in `properties` with this one.
    public static func stamp(_ properties: inout MQTTProperties, hops: Int, id: String) {
        properties.list.removeAll {
            if case .userProperty(let key, _) = $0 { return key == hopsKey || key == idKey }
            return false
        }
        properties.append(.userProperty(idKey, id))
        properties.append(.userProperty(hopsKey, String(hops)))
    }

    /// The identity a broker gives a message: its node name and the message's sequence number.
    public static func identity(node: String, sequence: UInt64) -> String {
        "\(node)-\(String(sequence, radix: 16))"
    }

    /// Whether `id` was given by the broker named `node`.
    public static func isOwn(_ id: String, node: String) -> Bool {
        id.utf8.count > node.utf8.count && id.hasPrefix(node) && id.utf8.dropFirst(node.utf8.count).first == UInt8(ascii: "-")
    }
}

/// The identities of the most recent messages received over bridges, to drop a second copy that
/// took another path. Bounded: the oldest identity is forgotten first.
public struct RecentMessageIDs: Sendable {
    public let capacity: Int
    private var members: Set<String> = []
    private var order: [String] = []
    private var next = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        members.reserveCapacity(capacity)
    }

    /// Remembers `id`; returns false when it was already known (a duplicate).
    public mutating func insert(_ id: String) -> Bool {
        guard members.insert(id).inserted else { return false }
        if order.count < capacity {
            order.append(id)
        } else {
            members.remove(order[next])
            order[next] = id
            next = (next + 1) % capacity
        }
        return true
    }

    public var count: Int { members.count }
}
