import Logging
import MeridianBroker
import MeridianBrokerCore
import MeridianClusterCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

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
/// A persistent session resumed (no Clean Start) on another node moves there with its
/// subscriptions and what it still owed its client (``SessionTransfer``).
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
        var username: String?
        var granted = false
        /// Granted with a session moving from another node: attached once it is installed.
        var awaitingState = false
        var stateInstalled = false
        var revoked = false
        var deadline: NIODeadline
        /// The owner the claim was last sent to over a link: asked again if that link closes first.
        var askedOwner: String?
    }

    /// Guards the fields below; held while a grant attaches its session and while an eviction ends one.
    private let lock = NIOLock()
    private var takeovers = SessionTakeovers()
    private var pending: [UInt64: Pending] = [:]
    /// Starts anywhere: claim ids of one start must not repeat those of an earlier one (the peers
    /// remember installed transfers by them).
    private var nextClaimID = UInt64.random(in: 0..<(1 << 62))
    /// The transfer last installed of each client id from each peer (key "peer client-id", value the
    /// claim id), kept in the store with the session's rows: a resend — after a broken link, or
    /// after this node restarted before its acknowledgement got through — is not installed twice.
    private let installed: BridgeState
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
        installed = server.bridgeState(named: "$meridian/session-transfers")
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
                username: request.username, deadline: now + Self.answerWait)
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
            let claim = SessionClaim(
                requester: node, id: id, clientIdentifier: waiting.clientIdentifier, epoch: owner.epoch, cleanStart: waiting.cleanStart,
                username: waiting.username)
            if owner.node == node { return received(.claim(claim), from: node) }
            lock.withLock { pending[id]?.askedOwner = owner.node }
            if links.send(.claim(claim), to: owner.node) { return }
        }
        retry(id)
    }

    /// The link to `peer` closed: a claim sent to it and not answered may be lost with the link (a
    /// node killed with `kill -9` answers nothing), so it is asked again: of the same owner once the
    /// link is back, or of the next owner once the shard moved; else it would wait for its deadline.
    func linkDown(to peer: String) {
        let unanswered = lock.withLock { () -> [UInt64] in
            let ids = pending.filter { $0.value.askedOwner == peer && !$0.value.granted }.map(\.key)
            for id in ids { pending[id]?.askedOwner = nil }
            return ids
        }
        for id in unanswered { retry(id) }
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
            server.onBrokerLoop { [self] loop in send(evict(claim, on: loop), to: peer) }
        case .evicted(let claim):
            let members = self.members
            perform(lock.withLock {
                takeovers.evicted(
                    clientIdentifier: claim.clientIdentifier, claimID: claim.id, requester: claim.requester, by: peer,
                    movedState: claim.stateFrom == peer, members: members, now: now)
            })
        case .denied(let claim):
            let members = self.members
            perform(lock.withLock {
                takeovers.denied(clientIdentifier: claim.clientIdentifier, claimID: claim.id, requester: claim.requester, by: peer, members: members, now: now)
            })
        case .grant(let claim):
            guard claim.requester == node else { return }
            // With a session moving here, the CONNECT attaches once it is installed.
            let attachNow = lock.withLock { () -> Bool in
                guard var waiting = pending[claim.id] else { return false }
                waiting.granted = true
                waiting.awaitingState = claim.stateFrom != nil && !waiting.stateInstalled
                pending[claim.id] = waiting
                return !waiting.awaitingState
            }
            if attachNow { answer(claim.id, .admit) }
        case .deny(let claim):
            guard claim.requester == node else { return }
            logger.notice("client id belongs to another user's session on another node, connection refused", metadata: [
                "client_id": "\(claim.clientIdentifier)", "username": "\(claim.username ?? "")",
            ])
            answer(claim.id, .refuse(.notAuthorized))
        case .refuse(let claim):
            // Not the owner (any more), or a holder did not answer: asked again while time is left.
            guard claim.requester == node else { return }
            retry(claim.id)
        }
    }

    /// Ends this node's session of the claim's client id; a CONNECT of it granted and not yet
    /// attached here is refused. A persistent session, for a CONNECT without Clean Start, moves to
    /// the requester (``SessionTransfer``, through this node's session of it).
    /// - Returns: the answer for the owner: evicted (saying whether state moved), or denied when the
    ///   session belongs to another user (it stays).
    private func evict(_ claim: SessionClaim, on loop: EventLoop) -> PeerWire.SessionMessage {
        lock.withLock {
            var answer = claim
            let now = self.now
            let (ending, moved) = server.endSession(
                clientIdentifier: claim.clientIdentifier, forUsername: claim.username, movingTo: claim.cleanStart ? nil : claim.requester,
                on: loop
            ) { taken in
                SessionTransfer(claimID: claim.id, session: taken).message(now: now)
            }
            switch ending {
            case .ownedByAnotherUser:
                return .denied(claim)
            case .ended:
                logger.info("session taken over by another node", metadata: [
                    "client_id": "\(claim.clientIdentifier)", "node": "\(claim.requester)", "moved": "\(moved)",
                ])
            case .none:
                break
            }
            for (id, waiting) in pending where waiting.clientIdentifier == claim.clientIdentifier && waiting.granted {
                pending[id]?.revoked = true
            }
            if moved { answer.stateFrom = node }
            return .evicted(answer)
        }
    }

    /// A persistent session moved here from `peer`: installed (and committed), then the CONNECT
    /// waiting for it attaches. A transfer seen before (a resend after a broken link, or after a restart) is acknowledged again only.
    func received(_ transfer: SessionTransfer, from peer: String, on loop: EventLoop) -> EventLoopFuture<Void> {
        let key = "\(peer) \(transfer.session.clientIdentifier)"
        let claim = "\(transfer.claimID)"
        guard installed[key] != claim else { return loop.makeSucceededFuture(()) }
        let id = transfer.claimID
        return server.installSession(transfer.session, on: loop, marking: (installed, key, claim)).map { [self] in
            logger.info("session moved here from another node", metadata: [
                "client_id": "\(transfer.session.clientIdentifier)", "node": "\(peer)", "messages": "\(transfer.session.deliveries.count + transfer.session.inflight.count)",
            ])
            let attachNow = lock.withLock { () -> Bool in
                guard pending[id]?.clientIdentifier == transfer.session.clientIdentifier else { return false }
                pending[id]?.stateInstalled = true
                return pending[id]?.awaitingState == true
            }
            if attachNow { answer(id, .admit) }
        }
    }

    private func perform(_ actions: [SessionTakeovers.Action]) {
        for action in actions {
            switch action {
            case .evict(let holder, let claim):
                if holder == node {
                    server.onBrokerLoop { [self] loop in received(evict(claim, on: loop), from: node) }
                } else if !links.send(.evict(claim), to: holder) {
                    logger.debug("no link to \(holder) for an eviction: the claim waits for its answer or times out")
                }
            case .grant(let claim):
                // Still the owner at this moment (a shard given up or a fenced node grants nothing).
                let shard = SessionShards.shard(of: claim.clientIdentifier)
                send(shards.owns(shard, epoch: claim.epoch) ? .grant(claim) : .refuse(claim), to: claim.requester)
            case .refuse(let claim):
                send(.refuse(claim), to: claim.requester)
            case .deny(let claim):
                send(.deny(claim), to: claim.requester)
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
            return (actions, pending.filter { (!$0.value.granted || $0.value.awaitingState) && $0.value.deadline + Self.retryPause <= now }.map(\.key))
        }
        perform(actions)
        for id in late { answer(id, .refuse(.serverUnavailable)) }
    }
}
