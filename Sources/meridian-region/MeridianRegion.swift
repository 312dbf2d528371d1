import ArgumentParser
import MeridianCluster
import MeridianClusterCore
import MeridianBroker
import MeridianBrokerCore
import MeridianConfig
import MeridianServices
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// `meridian-region`: a node of a regional cluster, composition only: the edge's services
/// (``Gateway``) with the cluster's admission, membership and status added.
@main
struct MeridianRegion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meridian-region",
        abstract: "Meridian region node: the broker core as a node of a cluster kept in etcd.",
        version: "meridian-region \(Gateway.version)"
    )

    @Option(name: [.short, .long], help: ArgumentHelp("Configuration file (Mosquitto syntax plus the cluster directives).", valueName: "file"))
    var config: String

    func run() async throws {
        let program = "meridian-region"
        // The cluster directives of the file as read at start-up (a SIGHUP re-reads the edge part only).
        let cluster = NIOLockedValueBox<ClusterSettings?>(nil)
        let admission = ClusterAdmission()
        let routing = LateClusterRouting()
        // The etcd client, once made (after the configuration is read): for its request figures.
        let etcdClient = NIOLockedValueBox<EtcdGatewayClient?>(nil)
        func etcdFigure(_ value: @escaping @Sendable (EtcdGatewayClient.Statistics) -> Double) -> @Sendable () -> Double {
            { etcdClient.withLockedValue { $0?.statistics }.map(value) ?? 0 }
        }
        let gateway: Gateway
        do {
            gateway = try await Gateway.start(.init(
                program: program, version: Gateway.version, configPath: config, portOverride: nil,
                parse: { text, file, includeDir in
                    let region = try RegionConfigParser.parse(text: text, file: file, includeDir: includeDir)
                    cluster.withLockedValue { if $0 == nil { $0 = region.cluster } }
                    return region.edge
                },
                admission: admission,
                cluster: routing,
                readinessChecks: [{ ClusterStatus.readiness(admission) }],
                jsonRoutes: ["/cluster": { ClusterStatus.json(admission, links: routing.links) }],
                gauges: [
                    .init(name: "meridian_cluster_nodes_alive", help: "Members of this node's cluster in etcd, this node included.") {
                        Double(admission.current?.members.count ?? 0)
                    },
                    .init(name: "meridian_cluster_fenced", help: "1 while this node is fenced (no lease within its fencing deadline), else 0.") {
                        admission.isServing ? 0 : 1
                    },
                    .init(name: "meridian_cluster_links_up", help: "Inter-node links open now.") {
                        Double(routing.links?.linkStatus.filter(\.up).count ?? 0)
                    },
                    .init(name: "meridian_cluster_routes", help: "Routes held for the other nodes (filters with subscribers there).") {
                        Double(routing.links?.routeCount ?? 0)
                    },
                    .init(name: "meridian_cluster_link_up", help: "1 while the inter-node link to the peer is open, else 0.", label: "peer") {
                        PeerMetrics.values(routing.links) { $0.up ? 1 : 0 }
                    },
                    .init(name: "meridian_cluster_peer_queued_messages", help: "Messages waiting in this node's session of the peer (for the link, or for its window).", label: "peer") {
                        PeerMetrics.values(routing.links) { Double($0.queued) }
                    },
                    .init(name: "meridian_cluster_peer_queued_bytes", help: "Approximate bytes of the messages waiting in this node's session of the peer.", label: "peer") {
                        PeerMetrics.values(routing.links) { Double($0.queuedBytes) }
                    },
                    .init(name: "meridian_cluster_peer_inflight_messages", help: "Messages forwarded to the peer and not yet acknowledged.", label: "peer") {
                        PeerMetrics.values(routing.links) { Double($0.inflight) }
                    },
                    .init(name: "meridian_cluster_peer_forwarded_messages", help: "Messages forwarded to the peer since this node started (resends not counted).", label: "peer") {
                        PeerMetrics.values(routing.links) { Double($0.forwarded) }
                    },
                    .init(name: "meridian_cluster_peer_received_messages", help: "Messages the peer forwarded to this node since it started.", label: "peer") {
                        PeerMetrics.values(routing.links) { Double($0.received) }
                    },
                    .init(name: "meridian_cluster_etcd_requests", help: "Requests to etcd since this node started (watches aside).", value: etcdFigure { Double($0.requests) }),
                    .init(name: "meridian_cluster_etcd_request_failures", help: "Requests to etcd that failed since this node started: no member answered in time, or etcd answered with an error.", value: etcdFigure { Double($0.failures) }),
                    .init(name: "meridian_cluster_etcd_request_seconds_sum", help: "Seconds the etcd requests that succeeded took, all together (with meridian_cluster_etcd_requests minus the failures: the mean).", value: etcdFigure { $0.answeredSeconds }),
                    .init(name: "meridian_cluster_etcd_request_seconds_max", help: "The slowest etcd request that succeeded since this node started, in seconds.", value: etcdFigure { $0.slowestSeconds }),
                    .init(name: "meridian_cluster_session_shards", help: "Session shards this node holds in etcd (1,024 in all).") {
                        Double(admission.shards?.ownedCounts[cluster.withLockedValue { $0?.nodeName } ?? ""] ?? 0)
                    },
                    .init(name: "meridian_cluster_peer_dropped_messages", help: "Messages for the peer dropped from its session here since this node started (GET /cluster has them by reason).", label: "peer") {
                        PeerMetrics.values(routing.links) { Double($0.drops.values.reduce(0, +)) }
                    },
                ]
            ))
        } catch {
            Gateway.exit(program: program, failure: error)
        }
        guard let settings = cluster.withLockedValue({ $0 }) else {
            Gateway.exit(program: program, failure: .init(description: "\(config): no cluster directives were read"))
        }
        if settings.etcdCAFile == nil && (settings.etcdCertFile != nil || settings.etcdKeyFile != nil) {
            Gateway.exit(program: program, failure: .init(description: "etcd_certfile/etcd_keyfile need etcd_cafile (TLS to etcd is on only with a CA to verify it)"))
        }
        var linkTLS: PeerLinks.LinkTLS?
        if let files = settings.linkTLS {
            do {
                linkTLS = try PeerLinks.tlsContexts(caFile: files.caFile, certFile: files.certFile, keyFile: files.keyFile)
            } catch {
                Gateway.exit(program: program, failure: .init(description: "\(error)"))
            }
        }
        let peerLinks = PeerLinks(
            settings: .init(
                cluster: settings.clusterName, node: settings.nodeName, secret: settings.clusterSecret,
                listenHost: settings.listenerAddress ?? "0.0.0.0", listenPort: settings.listenerPort, tls: linkTLS),
            logger: gateway.logger)
        do {
            try await peerLinks.start(server: gateway.server)
        } catch {
            Gateway.exit(program: program, failure: .init(description: "cluster_listener \(settings.listenerPort): cannot listen: \(error)"))
        }
        routing.install(peerLinks)
        let etcdGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let membership: ClusterMembership
        let shards: ShardClaims
        do {
            // A thread of its own: renewals must not wait behind the message traffic of the broker's
            // loops, or a busy node would miss its fencing deadline (seen under load at TTL 3 s).
            let etcd = try EtcdGatewayClient(
                endpoints: settings.etcdEndpoints, group: etcdGroup,
                tls: settings.etcdCAFile.map { .init(caFile: $0, certFile: settings.etcdCertFile, keyFile: settings.etcdKeyFile) },
                observeAnswer: gateway.durationHistogram(
                    name: "meridian_cluster_etcd_request_duration_seconds",
                    help: "Duration of the etcd requests that succeeded (watches aside).",
                    buckets: EtcdGatewayClient.latencyBuckets))
            etcdClient.withLockedValue { $0 = etcd }
            let mqttPort = gateway.configuration.listeners.first?.port
            let addresses = MemberAddresses(
                cluster: settings.advertisedEndpoint.description,
                mqtt: mqttPort.map { "\(settings.advertisedEndpoint.host):\($0)" })
            let server = gateway.server
            membership = ClusterMembership(
                settings: .init(nodeName: settings.nodeName, memberPrefix: settings.memberPrefix, advertise: addresses.value, ttl: settings.membershipTTL),
                etcd: etcd, clock: server.clock, logger: gateway.logger,
                onEvent: { event in
                    switch event {
                    case .change(let change):
                        peerLinks.membershipChanged(change)
                        switch change {
                        case .left(let member): admission.memberLeft(member.name)
                        case .restarted(let old, _): admission.memberLeft(old.name)
                        case .joined: break
                        }
                        return
                    case .serving(let incarnation): return peerLinks.serving(incarnation: incarnation)
                    case .fenced: break
                    }
                    // The clients go to a node that is still serving (of those this node last saw alive).
                    admission.sendClientsElsewhere(server: server)
                })
            admission.attach(membership)
            try await membership.join()
            shards = ShardClaims(
                settings: .init(node: settings.nodeName, prefix: settings.sessionsPrefix), etcd: etcd, membership: membership,
                clock: server.clock, logger: gateway.logger)
            admission.attach(shards: shards, links: peerLinks, server: server, logger: gateway.logger)
        } catch {
            Gateway.exit(program: program, failure: .init(description: "cannot join cluster \(settings.clusterName) through etcd (\(settings.etcdEndpoints.joined(separator: " "))): \(error)"))
        }
        try await gateway.run(adding: [membership, peerLinks, shards])
        admission.stop()
        try? await etcdGroup.shutdownGracefully()
    }
}

/// The node's cluster state for `/readyz` and `GET /cluster`.
enum ClusterStatus {
    static func readiness(_ admission: ClusterAdmission) -> (ok: Bool, line: String) {
        guard let membership = admission.current, let incarnation = membership.incarnation else {
            return (false, "cluster: not joined yet")
        }
        return membership.isServing
            ? (true, "cluster: serving (incarnation \(incarnation), \(membership.members.count) members)")
            : (false, "cluster: fenced (no lease renewal within the fencing deadline)")
    }

    static func json(_ admission: ClusterAdmission, links: PeerLinks?) -> String {
        guard let membership = admission.current else { return #"{"joined":false,"serving":false,"members":[],"links":[]}"# + "\n" }
        let linkStatus = (links?.linkStatus ?? []).map { link in
            let drops = link.drops.map { ($0.key.label, $0.value) }.sorted { $0.0 < $1.0 }.map { "\(quoted($0.0)):\($0.1)" }
            return #"{"peer":\#(quoted(link.peer)),"up":\#(link.up),"queued":\#(link.queued),"queued_bytes":\#(link.queuedBytes),"inflight":\#(link.inflight),"forwarded":\#(link.forwarded),"received":\#(link.received),"dropped":{\#(drops.joined(separator: ","))}}"#
        }
        let members = membership.members.map { member in
            let addresses = member.addresses
            return #"{"name":\#(quoted(member.name)),"incarnation":\#(member.incarnation),"cluster":\#(quoted(addresses.cluster)),"mqtt":\#(addresses.mqtt.map(quoted) ?? "null")}"#
        }
        // Session shards claimed in etcd, per node (all 1,024 are claimed in a settled cluster).
        let shards = (admission.shards?.ownedCounts ?? [:]).sorted { $0.key < $1.key }.map { "\(quoted($0.key)):\($0.value)" }
        return #"{"joined":true,"serving":\#(membership.isServing),"incarnation":\#(membership.incarnation.map { "\($0)" } ?? "null"),"members":[\#(members.joined(separator: ","))],"routes":\#(links?.routeCount ?? 0),"sessions_ready":\#(admission.shards?.isReady ?? false),"shards":{\#(shards.joined(separator: ","))},"links":[\#(linkStatus.joined(separator: ","))]}"# + "\n"
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Per-peer series for `/metrics`.
enum PeerMetrics {
    static func values(_ links: PeerLinks?, _ value: (PeerLinks.LinkStatus) -> Double) -> [String: Double] {
        Dictionary((links?.linkStatus ?? []).map { ($0.peer, value($0)) }, uniquingKeysWith: { first, _ in first })
    }
}

/// The broker's ``ClusterRouting`` before the links exist (they need the cluster directives,
/// which the gateway's start reads): nothing is forwarded until ``install(_:)``, and the
/// subscriptions restored from the store meanwhile are handed over then.
final class LateClusterRouting: ClusterRouting, @unchecked Sendable {
    private struct State {
        var links: PeerLinks?
        var early: [(filter: String, added: Bool)] = []
    }
    private let state = NIOLockedValueBox(State())

    var links: PeerLinks? { state.withLockedValue { $0.links } }

    func install(_ links: PeerLinks) {
        state.withLockedValue { state in
            for event in state.early {
                if event.added { links.localSubscriptionAdded(event.filter) } else { links.localSubscriptionRemoved(event.filter) }
            }
            state.early = []
            state.links = links
        }
    }

    func localSubscriptionAdded(_ filter: String) { record(filter, added: true) }

    func localSubscriptionRemoved(_ filter: String) { record(filter, added: false) }

    private func record(_ filter: String, added: Bool) {
        state.withLockedValue { state in
            guard let links = state.links else { return state.early.append((filter, added)) }
            if added { links.localSubscriptionAdded(filter) } else { links.localSubscriptionRemoved(filter) }
        }
    }
}
