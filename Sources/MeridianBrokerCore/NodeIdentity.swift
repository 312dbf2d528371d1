/// Who this broker is: an id that outlives restarts and the number of this start (its
/// incarnation). Given from outside: the edge keeps it in its store (a new incarnation at every
/// open); a region node will take its incarnation from etcd. Without a store the id is random per
/// start, with incarnation 1.
public struct NodeIdentity: Sendable, Equatable {
    public var id: String
    public var incarnation: UInt64

    public init(id: String, incarnation: UInt64) {
        self.id = id
        self.incarnation = incarnation
    }

    /// An identity for a broker with no store.
    public static func ephemeral() -> NodeIdentity {
        NodeIdentity(id: String(UInt64.random(in: 1...UInt64.max), radix: 36), incarnation: 1)
    }

    /// The name in message identities (``MeshTrace``): id and incarnation, so an identity given
    /// before a restart never equals one given after it (message sequences start again at 1).
    public var meshName: String { "\(id).\(incarnation)" }
}
