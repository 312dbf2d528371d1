import ArgumentParser
import MeridianCluster
import MeridianClusterCore
import MeridianConfig
import MeridianServices
import NIOConcurrencyHelpers

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
                readinessChecks: [{ ClusterStatus.readiness(admission) }],
                jsonRoutes: ["/cluster": { ClusterStatus.json(admission) }],
                gauges: [
                    .init(name: "meridian_cluster_nodes_alive", help: "Members of this node's cluster in etcd, this node included.") {
                        Double(admission.current?.members.count ?? 0)
                    },
                    .init(name: "meridian_cluster_fenced", help: "1 while this node is fenced (no lease within its fencing deadline), else 0.") {
                        admission.isServing ? 0 : 1
                    },
                ]
            ))
        } catch {
            Gateway.exit(program: program, failure: error)
        }
        guard let settings = cluster.withLockedValue({ $0 }) else {
            Gateway.exit(program: program, failure: .init(description: "\(config): no cluster directives were read"))
        }
        if settings.etcdCAFile != nil || settings.etcdCertFile != nil || settings.etcdKeyFile != nil {
            Gateway.exit(program: program, failure: .init(description: "etcd_cafile/etcd_certfile/etcd_keyfile: TLS to etcd is not supported yet"))
        }
        let membership: ClusterMembership
        do {
            let etcd = try EtcdGatewayClient(endpoints: settings.etcdEndpoints, group: gateway.server.eventLoopGroup)
            let mqttPort = gateway.configuration.listeners.first?.port
            let addresses = MemberAddresses(
                cluster: settings.advertisedEndpoint.description,
                mqtt: mqttPort.map { "\(settings.advertisedEndpoint.host):\($0)" })
            let server = gateway.server
            membership = ClusterMembership(
                settings: .init(nodeName: settings.nodeName, memberPrefix: settings.memberPrefix, advertise: addresses.value, ttl: settings.membershipTTL),
                etcd: etcd, clock: server.clock, logger: gateway.logger,
                onEvent: { event in
                    guard case .fenced = event else { return }
                    // The clients go to a node that is still serving (the last ones this node saw alive).
                    let elsewhere = admission.current?.members.first { $0.name != settings.nodeName && $0.addresses.mqtt != nil }
                    server.sendClientsElsewhere(reason: .useAnotherServer, serverReference: elsewhere?.addresses.mqtt)
                })
            admission.attach(membership)
            try await membership.join()
        } catch {
            Gateway.exit(program: program, failure: .init(description: "cannot join cluster \(settings.clusterName) through etcd (\(settings.etcdEndpoints.joined(separator: " "))): \(error)"))
        }
        try await gateway.run(adding: [membership])
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

    static func json(_ admission: ClusterAdmission) -> String {
        guard let membership = admission.current else { return #"{"joined":false,"serving":false,"members":[]}"# + "\n" }
        let members = membership.members.map { member in
            let addresses = member.addresses
            return #"{"name":\#(quoted(member.name)),"incarnation":\#(member.incarnation),"cluster":\#(quoted(addresses.cluster)),"mqtt":\#(addresses.mqtt.map(quoted) ?? "null")}"#
        }
        return #"{"joined":true,"serving":\#(membership.isServing),"incarnation":\#(membership.incarnation.map { "\($0)" } ?? "null"),"members":[\#(members.joined(separator: ","))]}"# + "\n"
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
