import Logging
import MeridianBroker
import MeridianBrokerCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore

/// A region node's admission: a CONNECT is admitted only while the node holds its lease within
/// the fencing deadline (``ClusterMembership/isServing``); otherwise it is refused with 0x88 Server
/// unavailable (3.1.1: return code 3), so the client tries another node. A serving node asks the
/// owner of the client id's session shard (``ClusterSessions``), which ends the session wherever
/// else it lives first; the node's own in-process clients (bridges, peer sessions) are its own.
public final class ClusterAdmission: SessionAdmission, @unchecked Sendable {
    private struct State {
        var membership: ClusterMembership?
        var sessions: ClusterSessions?
        var shards: ShardClaims?
    }
    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Set once the node has joined; until then every CONNECT is refused.
    public func attach(_ membership: ClusterMembership) {
        state.withLockedValue { $0.membership = membership }
    }

    /// Sessions across nodes: from now on a CONNECT waits for its shard owner's grant.
    public func attach(shards: ShardClaims, links: PeerLinks, server: BrokerServer, logger: Logger) {
        guard let membership = current else { return }
        let sessions = ClusterSessions(
            node: links.settings.node, membership: membership, shards: shards, links: links, server: server, logger: logger)
        links.sessions = sessions
        shards.onRelease = { released in sessions.released(released) }
        shards.onReadyLost = { node in sessions.memberLeft(node) }
        shards.linkStates = { links.linkStates }
        shards.onStepDown = { [weak self] in self?.sendClientsElsewhere(server: server) }
        state.withLockedValue {
            $0.sessions = sessions
            $0.shards = shards
        }
    }

    /// A member left the cluster (or restarted): it answers no more evictions, and its claims are void.
    public func memberLeft(_ name: String) {
        state.withLockedValue { $0.sessions }?.memberLeft(name)
    }

    /// The node's membership, once it joined.
    public var current: ClusterMembership? { state.withLockedValue { $0.membership } }

    /// The session shards' claims, once sessions across nodes are on.
    public var shards: ShardClaims? { state.withLockedValue { $0.shards } }

    public var isServing: Bool { current?.isServing ?? false }

    public func admit(_ request: AdmissionRequest, on eventLoop: EventLoop) -> EventLoopFuture<AdmissionDecision> {
        guard isServing else { return eventLoop.makeSucceededFuture(.refuse(.serverUnavailable)) }
        guard !request.inProcess, let sessions = state.withLockedValue({ $0.sessions }) else {
            return eventLoop.makeSucceededFuture(.admit)
        }
        return sessions.admit(request, on: eventLoop)
    }

    /// Closes every client connection with 0x9C Use another server (MQTT 5) and the address of
    /// another node — a ready one when there is one — for a node that fenced itself or stepped down.
    public func sendClientsElsewhere(server: BrokerServer) {
        guard let membership = current else { return }
        let ready = shards?.readyMembers ?? []
        let others = membership.members.filter { $0.name != membership.nodeName && $0.addresses.mqtt != nil }
        let elsewhere = others.first { ready.contains($0.name) } ?? others.first
        server.sendClientsElsewhere(reason: .useAnotherServer, serverReference: elsewhere?.addresses.mqtt)
    }

    public func stop() {
        state.withLockedValue { $0.sessions }?.stop()
    }
}
