/// What the region tier asks of etcd: leases, a create-if-absent transaction, range reads and
/// watches. Behind a protocol so that the cluster's decisions are tested without etcd; the
/// implementation talks to etcd 3.4's v3 JSON gateway (``EtcdGatewayClient``).
public protocol EtcdClient: Sendable {
    /// Grants a lease of `ttl` seconds. - Returns: its id and the TTL etcd granted.
    func grantLease(ttl: Int) async throws -> EtcdLease
    /// Renews a lease once. - Returns: the TTL etcd reset it to; 0 when the lease is gone.
    func keepAlive(lease: Int64) async throws -> Int
    func revoke(lease: Int64) async throws
    /// Creates `key` with `value` under `lease` unless it exists (one compare-and-set transaction).
    /// - Returns: the key's create revision, or nil when it existed.
    func create(key: String, value: String, lease: Int64) async throws -> Int64?
    /// Creates every key of `keys` with `value` under `lease` if none of them exists, in one
    /// transaction. - Returns: their create revision, or nil when one existed (nothing was created).
    func createAll(keys: [String], value: String, lease: Int64) async throws -> Int64?
    /// Deletes every key of `keys` if each still has the given create revision, in one transaction.
    /// - Returns: whether they were deleted (false: one was gone or created anew; nothing was deleted).
    func deleteAll(_ keys: [(key: String, createRevision: Int64)]) async throws -> Bool
    /// Every key under `prefix`, and the store's revision of that read.
    func range(prefix: String) async throws -> (kvs: [EtcdKeyValue], revision: Int64)
    /// Watches `prefix` from `startRevision`, handing each batch of events to `onEvents` until the
    /// stream ends (the returned call completes then, or throws).
    func watch(prefix: String, startRevision: Int64, onEvents: @escaping @Sendable ([EtcdEvent]) -> Void) async throws
}

public struct EtcdLease: Sendable, Hashable {
    public var id: Int64
    public var ttl: Int
}

public struct EtcdKeyValue: Sendable, Hashable {
    public var key: String
    public var value: String
    public var createRevision: Int64
    public var modRevision: Int64
}

public struct EtcdEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case put, delete }
    public var kind: Kind
    public var kv: EtcdKeyValue
}

public struct EtcdError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
