import MeridianBrokerCore
import MeridianClusterCore
import MeridianMQTT
import NIOCore
import Testing

/// Sessions across nodes, the pure parts: shards of client ids, which member owns which shard,
/// what a node claims and releases, and the owner's serialisation of takeovers, as transcripts.
@Suite struct SessionOwnershipTests {
    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    // MARK: - Shards

    @Test func aClientIdAlwaysHashesToTheSameShardInRange() {
        // FNV-1a of "sensor-1" is fixed: the same shard in every process, on every node.
        #expect(SessionShards.shard(of: "sensor-1") == SessionShards.shard(of: "sensor-1"))
        let shards = (0..<10_000).map { SessionShards.shard(of: "device-\($0)") }
        #expect(shards.allSatisfy { (0..<SessionShards.count).contains($0) })
        // Spread: every shard gets some of 10,000 ids, none more than 3× its share.
        let counts = Dictionary(grouping: shards, by: { $0 }).mapValues(\.count)
        #expect(counts.count > SessionShards.count * 9 / 10)
        #expect(counts.values.max()! < 3 * 10_000 / SessionShards.count + 5)
        #expect(SessionShards.key(of: 7, prefix: "/m/shards/") == "/m/shards/0007")
        #expect(SessionShards.shard(ofKey: "/m/shards/0007", prefix: "/m/shards/") == 7)
        #expect(SessionShards.shard(ofKey: "/m/shards/1024", prefix: "/m/shards/") == nil)
        #expect(SessionShards.shard(ofKey: "/m/members/a", prefix: "/m/shards/") == nil)
    }

    @Test func rendezvousAssignmentIsBalancedAndMovesOnlyTheShardsOfAMemberThatJoinsOrLeaves() {
        let three: Set = ["node-a", "node-b", "node-c"]
        let before = (0..<SessionShards.count).map { SessionShards.assignee(of: $0, among: three)! }
        let perNode = Dictionary(grouping: before, by: { $0 }).mapValues(\.count)
        #expect(perNode.count == 3)
        #expect(perNode.values.allSatisfy { $0 > 250 && $0 < 440 }, "balanced: \(perNode)")

        // node-d joins: a shard either stays or moves to node-d, never between the old three.
        let four = three.union(["node-d"])
        let after = (0..<SessionShards.count).map { SessionShards.assignee(of: $0, among: four)! }
        for shard in 0..<SessionShards.count where after[shard] != before[shard] {
            #expect(after[shard] == "node-d")
        }
        #expect(after.filter { $0 == "node-d" }.count > 150)

        // node-b leaves: only its shards move.
        let two = three.subtracting(["node-b"])
        for shard in 0..<SessionShards.count where before[shard] != "node-b" {
            #expect(SessionShards.assignee(of: shard, among: two) == before[shard])
        }
        #expect(SessionShards.assignee(of: 0, among: [String]()) == nil)
    }

    @Test func aNodeClaimsItsFreeShardsReleasesWhatAJoinerGetsAndLeavesOthersClaimsAlone() {
        let members: Set = ["node-a", "node-b"]
        // Nothing claimed yet: node-a claims exactly the shards assigned to it.
        let first = ShardPlan.plan(node: "node-a", members: members, claims: [:])
        let assigned = (0..<SessionShards.count).filter { SessionShards.assignee(of: $0, among: members) == "node-a" }
        #expect(first.claim == assigned && first.release.isEmpty)

        // node-a held every shard alone; node-b joined: node-a releases node-b's shards (with the
        // epoch it holds), claims nothing; node-b claims nothing until they are free.
        let all = Dictionary(uniqueKeysWithValues: (0..<SessionShards.count).map { ($0, ShardClaim(node: "node-a", epoch: 40)) })
        let released = ShardPlan.plan(node: "node-a", members: members, claims: all)
        let toB = (0..<SessionShards.count).filter { SessionShards.assignee(of: $0, among: members) == "node-b" }
        #expect(released.claim.isEmpty)
        #expect(released.release.map(\.shard) == toB && released.release.allSatisfy { $0.epoch == 40 })
        #expect(ShardPlan.plan(node: "node-b", members: members, claims: all).isEmpty)

        // A claim of a node that left stays until its lease takes it: nobody claims over it.
        let ofLeaver = Dictionary(uniqueKeysWithValues: (0..<SessionShards.count).map { ($0, ShardClaim(node: "node-c", epoch: 9)) })
        #expect(ShardPlan.plan(node: "node-a", members: members, claims: ofLeaver).isEmpty)
        // A node that is not (yet, or no longer) ready claims nothing and gives up what it holds.
        #expect(ShardPlan.plan(node: "node-z", members: members, claims: [:]).isEmpty)
        let held = [3: ShardClaim(node: "node-z", epoch: 5), 1: ShardClaim(node: "node-z", epoch: 6), 2: ShardClaim(node: "node-a", epoch: 7)]
        let givenUp = ShardPlan.plan(node: "node-z", members: members, claims: held)
        #expect(givenUp.claim.isEmpty && givenUp.release.map(\.shard) == [1, 3] && givenUp.release.map(\.epoch) == [6, 5])
    }

    // MARK: - Readiness

    @Test func aNodeIsReadyOnceLinkedToEveryReadyMemberAndTheNewerOfTwoUnlinkedOnesStepsDown() {
        let t = t0
        // The first node: nobody is ready, so it is.
        #expect(SessionReadiness.shouldBeReady(node: "a", incarnation: 5, isReady: false, ready: [:], linksUp: [], linkDownSince: [:], now: t))
        // A newcomer: ready only with a link to every ready member.
        let ready: [String: Int64] = ["a": 5, "b": 6]
        #expect(!SessionReadiness.shouldBeReady(node: "c", incarnation: 9, isReady: false, ready: ready, linksUp: ["a"], linkDownSince: ["b": t], now: t + .seconds(60)))
        #expect(SessionReadiness.shouldBeReady(node: "c", incarnation: 9, isReady: false, ready: ready, linksUp: ["a", "b"], linkDownSince: [:], now: t))
        // A member that is not ready (a wrong cluster_secret) does not hold anyone back.
        #expect(SessionReadiness.shouldBeReady(node: "a", incarnation: 5, isReady: true, ready: ["a": 5], linksUp: [], linkDownSince: ["z": t], now: t + .seconds(60)))

        // b (newer than a) loses its link to a: it stays ready for 6 s, then steps down; a stays.
        let both: [String: Int64] = ["a": 5, "b": 6]
        #expect(SessionReadiness.shouldBeReady(node: "b", incarnation: 6, isReady: true, ready: both, linksUp: [], linkDownSince: ["a": t], now: t + .milliseconds(5_999)))
        #expect(!SessionReadiness.shouldBeReady(node: "b", incarnation: 6, isReady: true, ready: both, linksUp: [], linkDownSince: ["a": t], now: t + .seconds(6)))
        #expect(SessionReadiness.shouldBeReady(node: "a", incarnation: 5, isReady: true, ready: both, linksUp: [], linkDownSince: ["b": t], now: t + .seconds(60)))
        // A ready member with no link object yet counts as down since now (not long enough to step down).
        #expect(SessionReadiness.shouldBeReady(node: "b", incarnation: 6, isReady: true, ready: both, linksUp: [], linkDownSince: [:], now: t))
    }

    // MARK: - Takeovers at the owner

    private func claim(_ requester: String, _ id: UInt64, _ client: String = "sensor-1") -> SessionClaim {
        SessionClaim(requester: requester, id: id, clientIdentifier: client, epoch: 12, cleanStart: false)
    }

    @Test func aClaimIsGrantedOnceEveryOtherMemberEndedItsSession() {
        var takeovers = SessionTakeovers()
        let members: Set = ["node-a", "node-b", "node-c"]
        let c1 = claim("node-b", 1)
        #expect(takeovers.claim(c1, members: members, now: t0) == [.evict(node: "node-a", claim: c1), .evict(node: "node-c", claim: c1)])
        #expect(takeovers.evicted(clientIdentifier: "sensor-1", claimID: 1, requester: "node-b", by: "node-a", members: members, now: t0).isEmpty)
        // An answer for another claim changes nothing.
        #expect(takeovers.evicted(clientIdentifier: "sensor-1", claimID: 9, requester: "node-b", by: "node-c", members: members, now: t0).isEmpty)
        #expect(takeovers.evicted(clientIdentifier: "sensor-1", claimID: 1, requester: "node-b", by: "node-c", members: members, now: t0) == [.grant(c1)])
        #expect(takeovers.inProgress == 0)

        // A single-node cluster grants at once.
        var alone = SessionTakeovers()
        #expect(alone.claim(claim("node-a", 2), members: ["node-a"], now: t0) == [.grant(claim("node-a", 2))])
    }

    @Test func twoConcurrentClaimsOfOneClientIdAreSerialisedAndTheLaterWins() {
        var takeovers = SessionTakeovers()
        let members: Set = ["node-a", "node-b", "node-c"]
        let onB = claim("node-b", 1)
        let onC = claim("node-c", 1)
        _ = takeovers.claim(onB, members: members, now: t0)
        // The second waits: nothing is sent for it while the first is in progress.
        #expect(takeovers.claim(onC, members: members, now: t0).isEmpty)
        // Another client id is not held up.
        let other = claim("node-c", 2, "sensor-2")
        #expect(takeovers.claim(other, members: members, now: t0) == [.evict(node: "node-a", claim: other), .evict(node: "node-b", claim: other)])
        _ = takeovers.evicted(clientIdentifier: "sensor-1", claimID: 1, requester: "node-b", by: "node-a", members: members, now: t0)
        // The first is granted, and the second starts at once: node-b (just granted) is told to end it.
        #expect(takeovers.evicted(clientIdentifier: "sensor-1", claimID: 1, requester: "node-b", by: "node-c", members: members, now: t0)
            == [.grant(onB), .evict(node: "node-a", claim: onC), .evict(node: "node-b", claim: onC)])
        _ = takeovers.evicted(clientIdentifier: "sensor-1", claimID: 1, requester: "node-c", by: "node-a", members: members, now: t0)
        #expect(takeovers.evicted(clientIdentifier: "sensor-1", claimID: 1, requester: "node-c", by: "node-b", members: members, now: t0) == [.grant(onC)])
    }

    @Test func aHolderThatLeavesNeedNotAnswerAndOneThatIsSilentGetsTheClaimRefused() {
        let members: Set = ["node-a", "node-b", "node-c"]
        var takeovers = SessionTakeovers(timeout: .seconds(3))
        let c1 = claim("node-b", 1)
        _ = takeovers.claim(c1, members: members, now: t0)
        _ = takeovers.evicted(clientIdentifier: "sensor-1", claimID: 1, requester: "node-b", by: "node-a", members: members, now: t0)
        // node-c left the cluster (its member key went): its sessions went with it.
        #expect(takeovers.memberLeft("node-c", members: ["node-a", "node-b"], now: t0) == [.grant(c1)])

        // node-c is a member but never answers: refused at the deadline, and the next claim starts.
        let c2 = claim("node-b", 2)
        let c3 = claim("node-a", 3)
        _ = takeovers.claim(c2, members: members, now: t0)
        _ = takeovers.claim(c3, members: members, now: t0)
        _ = takeovers.evicted(clientIdentifier: "sensor-1", claimID: 2, requester: "node-b", by: "node-a", members: members, now: t0)
        #expect(takeovers.expire(now: t0 + .milliseconds(2_999), members: members).isEmpty)
        #expect(takeovers.expire(now: t0 + .seconds(3), members: members)
            == [.refuse(c2), .evict(node: "node-b", claim: c3), .evict(node: "node-c", claim: c3)])

        // A requester that leaves: its claim is void, and no grant goes to it.
        #expect(takeovers.memberLeft("node-a", members: ["node-b", "node-c"], now: t0 + .seconds(3)).isEmpty)
        #expect(takeovers.inProgress == 0)
    }

    @Test func aSessionOfAnotherUserIsKeptAndTheClaimDenied() {
        let members: Set = ["node-a", "node-b", "node-c"]
        var takeovers = SessionTakeovers()
        let mallory = SessionClaim(requester: "node-b", id: 1, clientIdentifier: "sensor-1", epoch: 12, cleanStart: true, username: "mallory")
        let alice = SessionClaim(requester: "node-c", id: 2, clientIdentifier: "sensor-1", epoch: 12, cleanStart: false, username: "alice")
        _ = takeovers.claim(mallory, members: members, now: t0)
        _ = takeovers.claim(alice, members: members, now: t0)
        // An answer from a node that was not asked changes nothing.
        #expect(takeovers.denied(clientIdentifier: "sensor-1", claimID: 1, requester: "node-b", by: "node-b", members: members, now: t0).isEmpty)
        // node-a holds alice's session: mallory's claim is denied, and the next claim starts.
        #expect(takeovers.denied(clientIdentifier: "sensor-1", claimID: 1, requester: "node-b", by: "node-a", members: members, now: t0)
            == [.deny(mallory), .evict(node: "node-a", claim: alice), .evict(node: "node-b", claim: alice)])
    }

    @Test func anOwnerThatGivesUpAShardRefusesItsClaims() {
        let members: Set = ["node-a", "node-b"]
        var takeovers = SessionTakeovers()
        let c1 = claim("node-b", 1)
        let c2 = claim("node-a", 2)
        let c3 = claim("node-b", 3, "sensor-2")
        _ = takeovers.claim(c1, members: members, now: t0)
        _ = takeovers.claim(c2, members: members, now: t0)
        _ = takeovers.claim(c3, members: members, now: t0)
        #expect(takeovers.abandon { $0 == "sensor-1" } == [.refuse(c1), .refuse(c2)])
        #expect(takeovers.inProgress == 1)
        #expect(takeovers.abandon { _ in true } == [.refuse(c3)])
    }

    @Test func aHolderWhoseSessionMovesIsNamedInTheGrant() {
        let members: Set = ["node-a", "node-b", "node-c"]
        var takeovers = SessionTakeovers()
        let resume = SessionClaim(requester: "node-b", id: 5, clientIdentifier: "sensor-1", epoch: 12, cleanStart: false)
        _ = takeovers.claim(resume, members: members, now: t0)
        _ = takeovers.evicted(clientIdentifier: "sensor-1", claimID: 5, requester: "node-b", by: "node-a", movedState: true, members: members, now: t0)
        var granted = resume
        granted.stateFrom = "node-a"
        #expect(takeovers.evicted(clientIdentifier: "sensor-1", claimID: 5, requester: "node-b", by: "node-c", members: members, now: t0) == [.grant(granted)])
    }

    // MARK: - Wire

    @Test func aMovingSessionRoundTripsWithItsSubscriptionsAndMessages() throws {
        var expiring = BrokerMessage(topic: "fleet/1", payload: ByteBuffer(string: "p1"), qos: .exactlyOnce, retain: false,
                                     properties: [.userProperty("k", "v"), .contentType("text/plain")], expiresAt: t0 + .seconds(30))
        expiring.acceptedAt = t0
        let plain = BrokerMessage(topic: "fleet/2", payload: ByteBuffer(bytes: [0, 1, 2]), qos: .atLeastOnce, retain: true)
        let session = TakenSession(
            clientIdentifier: "truck-7", expiryInterval: 300, protocolVersion: .v5, username: "fleet",
            subscriptions: [
                .init(filter: "fleet/#", options: .init(qos: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend), identifier: 42),
                .init(filter: "cmd/truck-7", options: .init(qos: .atLeastOnce), identifier: nil),
            ],
            deliveries: [
                Delivery(message: expiring, qos: .exactlyOnce, retain: false, subscriptionIdentifiers: [42]),
                Delivery(message: plain, qos: .atLeastOnce, retain: true),
            ])
        let message = SessionTransfer(claimID: 99, session: session).message(now: t0 + .seconds(10))
        #expect(message.topic == SessionTransfer.topic && message.qos == .atLeastOnce)
        let read = try #require(SessionTransfer(payload: message.payload, now: t0 + .seconds(20)))
        #expect(read.claimID == 99)
        #expect(read.session.clientIdentifier == "truck-7" && read.session.expiryInterval == 300 && read.session.username == "fleet")
        #expect(read.session.subscriptions == session.subscriptions)
        #expect(read.session.deliveries.map(\.message.topic) == ["fleet/1", "fleet/2"])
        #expect(read.session.deliveries.map(\.qos) == [.exactlyOnce, .atLeastOnce])
        #expect(read.session.deliveries.map(\.retain) == [false, true])
        #expect(read.session.deliveries[0].subscriptionIdentifiers == [42])
        #expect(read.session.deliveries[0].message.properties.list == [.userProperty("k", "v"), .contentType("text/plain")])
        // 20 s left when it was sent: it expires 20 s after it was read.
        #expect(read.session.deliveries[0].message.remainingExpiry(at: t0 + .seconds(20)) == 20)
        #expect(read.session.deliveries[1].message.expiresAt == nil)
        #expect(read.session.deliveries[1].message.payload == ByteBuffer(bytes: [0, 1, 2]))

        var truncated = message.payload
        truncated.moveWriterIndex(to: truncated.writerIndex - 1)
        #expect(SessionTransfer(payload: truncated, now: t0) == nil)
        #expect(SessionTransfer(payload: ByteBuffer(bytes: [1, 0, 0]), now: t0) == nil)
    }

    @Test("the messages in flight move with their packet identifiers and stage, after the queue; a transfer of format 1 is still read; a repeated identifier is refused")
    func inFlightMessagesMoveWithTheirIdentifiers() throws {
        func delivery(_ topic: String, _ qos: MQTTQoS) -> Delivery {
            Delivery(message: BrokerMessage(topic: topic, payload: ByteBuffer(string: topic), qos: qos, retain: false), qos: qos, retain: false)
        }
        let session = TakenSession(
            clientIdentifier: "truck-7", expiryInterval: 300, protocolVersion: .v5, username: nil, subscriptions: [],
            inflight: [
                .init(packetIdentifier: 17, delivery: delivery("sent/qos1", .atLeastOnce), released: false),
                .init(packetIdentifier: 3, delivery: delivery("sent/qos2", .exactlyOnce), released: false),
                .init(packetIdentifier: 9, delivery: delivery("received/qos2", .exactlyOnce), released: true),
            ],
            deliveries: [delivery("queued", .atLeastOnce)])
        var identified = session
        identified.deliveries[0].message.peerIdentity = "node-c.2-1f"
        let message = SessionTransfer(claimID: 5, session: identified).message(now: t0)
        let read = try #require(SessionTransfer(payload: message.payload, now: t0))
        // Each message keeps its identity between nodes (a copy forwarded after the state is a second one), not as a property.
        #expect(read.session.deliveries[0].message.peerIdentity == "node-c.2-1f" && read.session.deliveries[0].message.properties.isEmpty)
        #expect(read.session.inflight.allSatisfy { $0.delivery.message.peerIdentity == nil })
        #expect(read.session.inflight.map(\.packetIdentifier) == [17, 3, 9])
        #expect(read.session.inflight.map(\.released) == [false, false, true])
        #expect(read.session.inflight.map(\.delivery.message.topic) == ["sent/qos1", "sent/qos2", "received/qos2"])
        #expect(read.session.inflight.map(\.delivery.qos) == [.atLeastOnce, .exactlyOnce, .exactlyOnce])
        #expect(read.session.deliveries.map(\.message.topic) == ["queued"])

        // Format 1 (an older node): the queue only, nothing in flight after it.
        var bytes = Array(buffer: SessionTransfer(claimID: 5, session: session).message(now: t0).payload)
        let inflightSection = bytes.count - Array(buffer: SessionTransfer(claimID: 5, session: TakenSession(
            clientIdentifier: "truck-7", expiryInterval: 300, protocolVersion: .v5, username: nil, subscriptions: [],
            deliveries: [delivery("queued", .atLeastOnce)])).message(now: t0).payload).count
        var formatOne = Array(bytes.dropLast(inflightSection + 4))
        formatOne[0] = 1
        let old = try #require(SessionTransfer(payload: ByteBuffer(bytes: formatOne), now: t0))
        #expect(old.session.inflight.isEmpty && old.session.deliveries.map(\.message.topic) == ["queued"])

        // Two messages in flight under one identifier: not a transfer.
        var twice = session
        twice.inflight[1].packetIdentifier = 17
        bytes = Array(buffer: SessionTransfer(claimID: 5, session: twice).message(now: t0).payload)
        #expect(SessionTransfer(payload: ByteBuffer(bytes: bytes), now: t0) == nil)
    }

    @Test func sessionMessagesRoundTripAndGarbageIsRefused() {
        let c = SessionClaim(requester: "node-b", id: 77, clientIdentifier: "dévice/ü", epoch: 1_234_567, cleanStart: true)
        let withUser = SessionClaim(requester: "node-c", id: 78, clientIdentifier: "x", epoch: 9, cleanStart: false, username: "alice")
        for message: PeerWire.SessionMessage in [.claim(c), .evict(c), .evicted(c), .grant(c), .refuse(c), .denied(c), .deny(c), .claim(withUser)] {
            let publish = PeerWire.publish(message)
            #expect(publish.topic == PeerWire.sessionsTopic && publish.qos == .atMostOnce)
            #expect(PeerWire.sessionMessage(from: publish.payload) == message)
            guard case .session(let read) = PeerWire.read(.publish(publish), from: "node-b", now: t0) else {
                Issue.record("not read as a session message")
                continue
            }
            #expect(read == message)
        }
        var truncated = PeerWire.publish(.claim(c)).payload
        truncated.moveWriterIndex(to: truncated.writerIndex - 1)
        #expect(PeerWire.sessionMessage(from: truncated) == nil)
        var unknownKind = PeerWire.publish(.claim(c)).payload
        unknownKind.setInteger(UInt8(9), at: unknownKind.readerIndex)
        #expect(PeerWire.sessionMessage(from: unknownKind) == nil)
        let garbage = MQTTPublish(topic: PeerWire.sessionsTopic, payload: ByteBuffer(bytes: [1, 2, 3]), qos: .atMostOnce, retain: false, dup: false, packetIdentifier: nil)
        guard case .invalid = PeerWire.read(.publish(garbage), from: "node-b", now: t0) else {
            Issue.record("garbage was not refused")
            return
        }
    }
}
