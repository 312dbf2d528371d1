import MeridianBrokerCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore

/// A region node's admission: a CONNECT is admitted only while the node holds its lease within
/// the fencing deadline (``ClusterMembership/isServing``); otherwise it is refused with 0x88 Server
/// unavailable (3.1.1: return code 3), so the client tries another node. Session ownership across
/// nodes (shards claimed in etcd) is not built yet: a serving node admits every client id.
public final class ClusterAdmission: SessionAdmission, @unchecked Sendable {
    private let membership = NIOLockedValueBox<ClusterMembership?>(nil)

    public init() {}

    /// Set once the node has joined; until then every CONNECT is refused.
    public func attach(_ membership: ClusterMembership) {
        self.membership.withLockedValue { $0 = membership }
    }

    /// The node's membership, once it joined.
    public var current: ClusterMembership? { membership.withLockedValue { $0 } }

    public var isServing: Bool { current?.isServing ?? false }

    public func admit(_ request: AdmissionRequest, on eventLoop: EventLoop) -> EventLoopFuture<AdmissionDecision> {
        eventLoop.makeSucceededFuture(isServing ? .admit : .refuse(.serverUnavailable))
    }
}
