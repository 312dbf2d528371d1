import Logging
import MeridianBroker
import MeridianBrokerCore
import MeridianClusterCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore

/// One live session per client id across the cluster (issue 13, item 6), in its three roles:
///
/// - **requester**: a CONNECT on this node waits while the owner of its client id's shard
///   (``ShardClaims``) is asked, over the inter-node link (or here, when this node owns it);
/// - **owner**: ``SessionTakeovers`` serialises the claims of each client id and tells the other
///   members to end their session of it before it grants;
/// - **holder**: told to end a session, this node ends it (its connection gets DISCONNECT 0x8E)
///   and answers.
///
/// A grant is carried out under ``lock``, with the session attached in the same critical section,
/// and an eviction takes that lock too: so an eviction either finds the session attached and ends
/// it, or comes first and the granted CONNECT is refused (0x89 Server busy); the owner sends a
/// node its grant before any later eviction, on the same ordered link.
///
/// Not built yet: a persistent session's state moving with it (its subscriptions and queue end
/// on the old node; the new node starts the session anew, Session Present 0).
final class ClusterSessions: @unchecked Sendable {
    private let node: String
    private let membership: ClusterMembership
    private let shards: ShardClaims
    private let links: PeerLinks
    private let server: BrokerServer
    private let logger: Logger

    private struct Pending {
        var promise: EventLoopPromise<AdmissionDecision>
        var loop: EventLoop
        var clientIdentifier: String
        var cleanStart: Bool
        var granted = false
        var revoked = false
        var deadline: NIODeadline
    }

    /// Guards the fields below; held while a grant attaches its session and while an eviction ends one.
    private let lock = NIOLock()
    private var takeovers = SessionTakeovers()
    private var pending: [UInt64: Pending] = [:]
    private var nextClaimID: UInt64 = 0
    private var timer: RepeatedTask?

    /// How long a CONNECT waits for a grant: for its shard's owner to be known and reachable (a
    /// shard moving between nodes, or whose owner died and whose claim waits for its lease to
    /// end), asked again after each refusal, until then.
    static let answerWait = TimeAmount.seconds(5)
    static let retryPause = TimeAmount.milliseconds(100)

    init(node: String, membership: ClusterMembership, shards: ShardClaims, links: PeerLinks, server: BrokerServer, logger: Logger) {
        self.node = node
        self.membership = membership
        self.shards = shards
        self.links = links
        self.server = server
        self.logger = logger
        timer = server.eventLoops[0].scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { [weak self] _ in
            self?.expire()
        }
    }

    func stop() { timer?.cancel() }

    /// The members a takeover must hear from: the ready ones (the others serve no clients).
    private var members: Set<String> { shards.readyMembers }
    private var now: NIODeadline { server.clock.now }

    // MARK: - Requester

    func admit(_ request: AdmissionRequest, on loop: EventLoop) -> EventLoopFuture<AdmissionDecision> {
        let promise = loop.makePromise(of: AdmissionDecision.self)
        let id = lock.withLock { () -> UInt64 in
            nextClaimID += 1
            pending[nextClaimID] = Pending(
                promise: promise, loop: loop, clientIdentifier: request.clientIdentifier, cleanStart: request.cleanStart,
                deadline: now + Self.answerWait)
            return nextClaimID
        }
        ask(id)
        return promise.futureResult
    }

    /// Sends the claim of a waiting CONNECT to its shard's owner once the owner is known and its
    /// link is open; tried again every 100 ms until the CONNECT's deadline.
    private func ask(_ id: UInt64) {
        guard let waiting = lock.withLock({ pending[id] }), !waiting.granted else { return }
        guard membership.isServing else { return answer(id, .refuse(.serverUnavailable)) }
        guard shards.isReady else { return retry(id) }  // joining: ready once linked to the ready members
        let shard = SessionShards.shard(of: waiting.clientIdentifier)
        if let owner = shards.claim(of: shard) {
            let claim = SessionClaim(requester: node, id: id, clientIdentifier: waiting.clientIdentifier, epoch: owner.epoch, cleanStart: waiting.cleanStart)
            if owner.node == node { return received(.claim(claim), from: node) }
            if links.send(.claim(claim), to: owner.node) { return }
        }
        retry(id)
    }

    /// Asks again after a pause, unless the CONNECT's deadline passed: then it is refused (0x88).
    private func retry(_ id: UInt64) {
        guard let waiting = lock.withLock({ pending[id] }) else { return }
        guard now + Self.retryPause < waiting.deadline else {
            logger.notice("no grant from the owner of the client id's session shard in time, connection refused", metadata: [
                "client_id": "\(waiting.clientIdentifier)", "shard": "\(SessionShards.shard(of: waiting.clientIdentifier))",
            ])
            return answer(id, .refuse(.serverUnavailable))
        }
        server.eventLoops[0].scheduleTask(in: Self.retryPause) { self.ask(id) }
    }

    /// Completes a waiting CONNECT. A grant runs its attach under ``lock`` on the connection's loop.
    private func answer(_ id: UInt64, _ decision: AdmissionDecision) {
        guard let loop = lock.withLock({ () -> EventLoop? in
            if decision == .admit { pending[id]?.granted = true }
            return pending[id]?.loop
        }) else { return }
        loop.execute { [self] in
            lock.withLock {
                guard let waiting = pending.removeValue(forKey: id) else { return }
                // The handler's callback runs inside `succeed` (the promise is this loop's): it attaches the session now.
                waiting.promise.succeed(waiting.revoked ? .refuse(.serverBusy) : decision)
            }
        }
    }

    // MARK: - Messages (from a peer, or from this node to itself)

    func received(_ message: PeerWire.SessionMessage, from peer: String) {
        switch message {
        case .claim(let claim):
            guard claim.requester == peer else { return }
            let shard = SessionShards.shard(of: claim.clientIdentifier)
            guard shards.owns(shard, epoch: claim.epoch) else { return send(.refuse(claim), to: peer) }
            let members = self.members
            perform(lock.withLock { takeovers.claim(claim, members: members, now: now) })
        case .evict(let claim):
            evict(claim)
            send(.evicted(claim), to: peer)
        case .evicted(let claim):
            let members = self.members
            perform(lock.withLock {
                takeovers.evicted(clientIdentifier: claim.clientIdentifier, claimID: claim.id, requester: claim.requester, by: peer, members: members, now: now)
            })
        case .grant(let claim):
            guard claim.requester == node else { return }
            answer(claim.id, .admit)
        case .refuse(let claim):
            // Not the owner (any more), or a holder did not answer: asked again while time is left.
            guard claim.requester == node else { return }
            retry(claim.id)
        }
    }

    /// Ends this node's session of the claim's client id; a CONNECT of it granted and not yet attached here is refused.
    private func evict(_ claim: SessionClaim) {
        lock.withLock {
            for (id, waiting) in pending where waiting.clientIdentifier == claim.clientIdentifier && waiting.granted {
                pending[id]?.revoked = true
            }
            if server.endSession(clientIdentifier: claim.clientIdentifier) {
                logger.info("session taken over by another node", metadata: ["client_id": "\(claim.clientIdentifier)", "node": "\(claim.requester)"])
            }
        }
    }

    private func perform(_ actions: [SessionTakeovers.Action]) {
        for action in actions {
            switch action {
            case .evict(let holder, let claim):
                if holder == node {
                    evict(claim)
                    received(.evicted(claim), from: node)
                } else if !links.send(.evict(claim), to: holder) {
                    logger.debug("no link to \(holder) for an eviction: the claim waits for its answer or times out")
                }
            case .grant(let claim):
                // Still the owner at this moment (a shard given up or a fenced node grants nothing).
                let shard = SessionShards.shard(of: claim.clientIdentifier)
                send(shards.owns(shard, epoch: claim.epoch) ? .grant(claim) : .refuse(claim), to: claim.requester)
            case .refuse(let claim):
                send(.refuse(claim), to: claim.requester)
            }
        }
    }

    private func send(_ message: PeerWire.SessionMessage, to peer: String) {
        if peer == node { return received(message, from: node) }
        _ = links.send(message, to: peer)
    }

    // MARK: - Membership and time

    func memberLeft(_ name: String) {
        let members = self.members
        perform(lock.withLock { takeovers.memberLeft(name, members: members, now: now) })
    }

    /// Shards this node no longer owns: the claims of their client ids are refused.
    func released(_ released: Set<Int>) {
        perform(lock.withLock { takeovers.abandon { released.contains(SessionShards.shard(of: $0)) } })
    }

    private func expire() {
        let now = self.now
        let members = self.members
        let (actions, late) = lock.withLock { () -> ([SessionTakeovers.Action], [UInt64]) in
            // Fenced or not ready: this node decides for no shard.
            let actions = shards.isReady ? takeovers.expire(now: now, members: members) : takeovers.abandon { _ in true }
            // A claim whose answers got lost on a link that broke: past its deadline, refused here.
            return (actions, pending.filter { !$0.value.granted && $0.value.deadline + Self.retryPause <= now }.map(\.key))
        }
        perform(actions)
        for id in late { answer(id, .refuse(.serverUnavailable)) }
    }
}
