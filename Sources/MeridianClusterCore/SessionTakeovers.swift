import NIOCore

/// A node asking a shard's owner for a client id's session: `requester` holds the client's
/// CONNECT until the owner answers.
public struct SessionClaim: Sendable, Hashable {
    public var requester: String
    /// Unique per requester (it matches the answer to the waiting CONNECT).
    public var id: UInt64
    public var clientIdentifier: String
    /// The shard epoch the requester believes in: an owner with another epoch refuses (its claim moved).
    public var epoch: Int64
    /// The CONNECT's Clean Start.
    public var cleanStart: Bool
    /// The username the connecting client logged in with: a session belongs to the username that
    /// created it (I8), so a holder whose session has another owner refuses to end it.
    public var username: String?
    /// In an eviction's answer and in the grant: the node whose persistent session moves to the
    /// requester (``SessionTransfer``), which then waits for it before attaching.
    public var stateFrom: String?

    public init(
        requester: String, id: UInt64, clientIdentifier: String, epoch: Int64, cleanStart: Bool, username: String? = nil,
        stateFrom: String? = nil
    ) {
        self.requester = requester
        self.id = id
        self.clientIdentifier = clientIdentifier
        self.epoch = epoch
        self.cleanStart = cleanStart
        self.username = username
        self.stateFrom = stateFrom
    }
}

/// How a shard's owner serialises the takeovers of its client ids (issue 13, item 6): one claim
/// per client id at a time; before granting it, every other live member is told to end the
/// session it may have of that client id (its connection gets DISCONNECT 0x8E) and has answered.
/// A second claim for the same id waits for the first, so two concurrent CONNECTs on two nodes
/// end with exactly one live session: the later one's.
///
/// Pure: claims, answers, members leaving and time in; what to send out.
public struct SessionTakeovers: Sendable {
    public enum Action: Sendable, Hashable {
        /// Tell `node` to end its session of the claim's client id, and to answer.
        case evict(node: String, claim: SessionClaim)
        /// The requester may attach the session.
        case grant(SessionClaim)
        /// Not granted (a holder did not answer in time): the requester asks again while its
        /// CONNECT may wait, then refuses it and the client tries again.
        case refuse(SessionClaim)
        /// Never granted: the session belongs to another user; the CONNECT is refused (0x87).
        case deny(SessionClaim)
    }

    private struct Active: Sendable {
        var claim: SessionClaim
        var waitingFor: Set<String>
        var deadline: NIODeadline
    }

    /// How long a holder has to answer.
    public let timeout: TimeAmount
    private var active: [String: Active] = [:]
    private var queued: [String: [SessionClaim]] = [:]

    public init(timeout: TimeAmount = .seconds(3)) { self.timeout = timeout }

    /// Client ids with a claim in progress.
    public var inProgress: Int { active.count }

    /// A claim arrived; `members` are the live members now (the requester and this node included).
    public mutating func claim(_ claim: SessionClaim, members: Set<String>, now: NIODeadline) -> [Action] {
        if active[claim.clientIdentifier] != nil {
            queued[claim.clientIdentifier, default: []].append(claim)
            return []
        }
        return start(claim, members: members, now: now)
    }

    /// `node` answered that it ended (or never had) its session of the claim; `movedState` when
    /// that session's state is on its way to the requester.
    public mutating func evicted(
        clientIdentifier: String, claimID: UInt64, requester: String, by node: String, movedState: Bool = false, members: Set<String>,
        now: NIODeadline
    ) -> [Action] {
        guard var current = active[clientIdentifier], current.claim.id == claimID, current.claim.requester == requester,
            current.waitingFor.contains(node)
        else { return [] }
        current.waitingFor.remove(node)
        if movedState { current.claim.stateFrom = node }
        active[clientIdentifier] = current
        return finishIfAnswered(clientIdentifier, members: members, now: now)
    }

    /// `node` holds a session of the client id that belongs to another user: it kept it, and the claim is denied.
    public mutating func denied(clientIdentifier: String, claimID: UInt64, requester: String, by node: String, members: Set<String>, now: NIODeadline) -> [Action] {
        guard let current = active[clientIdentifier], current.claim.id == claimID, current.claim.requester == requester,
            current.waitingFor.contains(node)
        else { return [] }
        active[clientIdentifier] = nil
        return [.deny(current.claim)] + next(clientIdentifier, members: members, now: now)
    }

    /// `node` left the cluster: its sessions are gone with it, so it need not answer; its own
    /// claims are void.
    public mutating func memberLeft(_ node: String, members: Set<String>, now: NIODeadline) -> [Action] {
        var actions: [Action] = []
        for clientIdentifier in queued.keys { queued[clientIdentifier]?.removeAll { $0.requester == node } }
        for (clientIdentifier, current) in active.sorted(by: { $0.key < $1.key }) {
            if current.claim.requester == node {
                active[clientIdentifier] = nil
                actions += next(clientIdentifier, members: members, now: now)
            } else if current.waitingFor.contains(node) {
                active[clientIdentifier]?.waitingFor.remove(node)
                actions += finishIfAnswered(clientIdentifier, members: members, now: now)
            }
        }
        return actions
    }

    /// Claims whose holders did not all answer in time are refused.
    public mutating func expire(now: NIODeadline, members: Set<String>) -> [Action] {
        var actions: [Action] = []
        for (clientIdentifier, current) in active.sorted(by: { $0.key < $1.key }) where current.deadline <= now {
            active[clientIdentifier] = nil
            actions.append(.refuse(current.claim))
            actions += next(clientIdentifier, members: members, now: now)
        }
        return actions
    }

    /// This node no longer owns the shards of these client ids (fenced, or they moved): their
    /// claims, in progress or waiting, are refused.
    public mutating func abandon(where isAbandoned: (String) -> Bool) -> [Action] {
        var claims: [SessionClaim] = []
        for clientIdentifier in Set(active.keys).union(queued.keys) where isAbandoned(clientIdentifier) {
            claims += (active.removeValue(forKey: clientIdentifier).map { [$0.claim] } ?? []) + (queued.removeValue(forKey: clientIdentifier) ?? [])
        }
        return claims.sorted { ($0.clientIdentifier, $0.id) < ($1.clientIdentifier, $1.id) }.map { .refuse($0) }
    }

    private mutating func start(_ claim: SessionClaim, members: Set<String>, now: NIODeadline) -> [Action] {
        let holders = members.subtracting([claim.requester])
        active[claim.clientIdentifier] = Active(claim: claim, waitingFor: holders, deadline: now + timeout)
        let evictions = holders.sorted().map { Action.evict(node: $0, claim: claim) }
        return evictions + finishIfAnswered(claim.clientIdentifier, members: members, now: now)
    }

    private mutating func finishIfAnswered(_ clientIdentifier: String, members: Set<String>, now: NIODeadline) -> [Action] {
        guard let current = active[clientIdentifier], current.waitingFor.isEmpty else { return [] }
        active[clientIdentifier] = nil
        return [.grant(current.claim)] + next(clientIdentifier, members: members, now: now)
    }

    private mutating func next(_ clientIdentifier: String, members: Set<String>, now: NIODeadline) -> [Action] {
        guard var waiting = queued[clientIdentifier], !waiting.isEmpty else {
            queued[clientIdentifier] = nil
            return []
        }
        let claim = waiting.removeFirst()
        queued[clientIdentifier] = waiting.isEmpty ? nil : waiting
        return start(claim, members: members, now: now)
    }
}
