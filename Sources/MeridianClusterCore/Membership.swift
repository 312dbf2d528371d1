/// One live node of the cluster, as its member key in etcd describes it.
public struct Member: Sendable, Hashable {
    public var name: String
    /// The create revision of its member key: a new one at every join, never reused (DESIGN.md §8).
    public var incarnation: Int64
    /// Where the inter-node links reach it (`cluster_advertise`).
    public var advertise: String

    public init(name: String, incarnation: Int64, advertise: String) {
        self.name = name
        self.incarnation = incarnation
        self.advertise = advertise
    }
}

/// The cluster's members, learned from etcd only (a range read, then a watch): never from
/// whether a socket to a peer works.
///
/// Pure: etcd's key events in, membership changes out.
public struct Membership: Sendable {
    public enum Change: Sendable, Hashable {
        case joined(Member)
        /// A node left (its key was deleted: stopped, or its lease expired): drop its routes and links.
        case left(Member)
        /// The same name came back with a new incarnation: everything of the old one is void.
        case restarted(old: Member, new: Member)
    }

    /// The key prefix of member keys, `<etcd_prefix>/clusters/<cluster>/members/`.
    public let prefix: String
    public private(set) var members: [String: Member] = [:]
    /// The etcd revision this table reflects; a watch resumes after it.
    public private(set) var revision: Int64 = 0

    public init(prefix: String) { self.prefix = prefix }

    public func key(for name: String) -> String { prefix + name }

    /// The member named by `key`, or nil for a key outside the prefix.
    public func name(of key: String) -> String? {
        guard key.hasPrefix(prefix) else { return nil }
        let name = String(key.dropFirst(prefix.count))
        return name.isEmpty || name.contains("/") ? nil : name
    }

    /// Replaces the table with a full read at `revision`; returns what changed against it.
    public mutating func load(_ keys: [(key: String, value: String, createRevision: Int64)], revision: Int64) -> [Change] {
        var seen: [String: Member] = [:]
        for entry in keys {
            guard let name = name(of: entry.key) else { continue }
            seen[name] = Member(name: name, incarnation: entry.createRevision, advertise: entry.value)
        }
        var changes: [Change] = []
        for (name, old) in members.sorted(by: { $0.key < $1.key }) where seen[name] == nil {
            changes.append(.left(old))
        }
        for (name, member) in seen.sorted(by: { $0.key < $1.key }) {
            changes += apply(member, existing: members[name])
        }
        members = seen
        self.revision = max(self.revision, revision)
        return changes
    }

    /// A put of a member key seen by the watch at `revision`.
    public mutating func put(key: String, value: String, createRevision: Int64, revision: Int64) -> [Change] {
        guard revision > self.revision || revision == 0, let name = name(of: key) else { return [] }
        if revision > 0 { self.revision = revision }
        let member = Member(name: name, incarnation: createRevision, advertise: value)
        // An event older than the incarnation in the table (a replayed watch) is ignored.
        if let existing = members[name], existing.incarnation > createRevision { return [] }
        let changes = apply(member, existing: members[name])
        members[name] = member
        return changes
    }

    /// A delete of a member key seen by the watch at `revision`.
    public mutating func delete(key: String, revision: Int64) -> [Change] {
        guard revision > self.revision || revision == 0, let name = name(of: key) else { return [] }
        if revision > 0 { self.revision = revision }
        guard let old = members.removeValue(forKey: name) else { return [] }
        return [.left(old)]
    }

    private func apply(_ member: Member, existing: Member?) -> [Change] {
        guard let existing else { return [.joined(member)] }
        if existing.incarnation != member.incarnation { return [.restarted(old: existing, new: member)] }
        return []
    }
}

/// What a member key holds: where peers reach the node (`cluster=HOST:PORT`) and where clients
/// reach its MQTT listener (`mqtt=HOST:PORT`), the Server Reference a fenced node names.
public struct MemberAddresses: Sendable, Hashable {
    public var cluster: String
    public var mqtt: String?

    public init(cluster: String, mqtt: String?) {
        self.cluster = cluster
        self.mqtt = mqtt
    }

    /// Reads a member key's value; a bare `HOST:PORT` is the cluster address alone.
    public init(value: String) {
        var cluster = value
        var mqtt: String?
        for field in value.split(separator: " ") {
            if field.hasPrefix("cluster=") { cluster = String(field.dropFirst("cluster=".count)) }
            if field.hasPrefix("mqtt=") { mqtt = String(field.dropFirst("mqtt=".count)) }
        }
        self.init(cluster: cluster, mqtt: mqtt)
    }

    public var value: String { "cluster=\(cluster)" + (mqtt.map { " mqtt=\($0)" } ?? "") }
}

extension Member {
    public var addresses: MemberAddresses { MemberAddresses(value: advertise) }
}
