import MeridianConfig
import Testing

@Suite struct RegionConfigTests {
    private let minimal = """
        listener 1883
        allow_anonymous true
        cluster_name eu-west
        node_name node-1
        cluster_listener 7883 127.0.0.1
        etcd_endpoints http://127.0.0.1:2379 http://127.0.0.1:22379
        cluster_secret correct-horse-battery-staple
        """

    @Test func clusterDirectivesBesideTheEdgeOnes() throws {
        let config = try RegionConfigParser.parse(text: minimal + "\netcd_prefix /prod/\nmembership_ttl 5\ncluster_advertise 10.0.0.1:7883\n", file: "r.conf")
        #expect(config.edge.listeners.map(\.port) == [1883])
        #expect(config.cluster.clusterName == "eu-west" && config.cluster.nodeName == "node-1")
        #expect(config.cluster.listenerPort == 7883 && config.cluster.listenerAddress == "127.0.0.1")
        #expect(config.cluster.etcdEndpoints == ["http://127.0.0.1:2379", "http://127.0.0.1:22379"])
        #expect(config.cluster.etcdPrefix == "/prod" && config.cluster.membershipTTL == 5)
        #expect(config.cluster.advertisedEndpoint == .init(host: "10.0.0.1", port: 7883))
        #expect(config.cluster.memberPrefix == "/prod/clusters/eu-west/members/")
    }

    @Test func defaults() throws {
        let config = try RegionConfigParser.parse(text: minimal, file: "r.conf")
        #expect(config.cluster.etcdPrefix == "/meridian" && config.cluster.membershipTTL == 10)
        #expect(config.cluster.clusterSecret == "correct-horse-battery-staple")
        #expect(config.cluster.advertisedEndpoint == .init(host: "127.0.0.1", port: 7883))
    }

    @Test func mistakesNameTheFileAndLine() {
        func error(_ text: String) -> String? {
            do {
                _ = try RegionConfigParser.parse(text: text, file: "r.conf")
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(error(minimal + "\nmembership_ttl 1") == "r.conf:8: membership_ttl: 1 is out of range 2...3600 (the lease TTL must leave time for renewals)"
            || error(minimal + "\nmembership_ttl 1")?.hasPrefix("r.conf:8: membership_ttl") == true)
        #expect(error(minimal + "\netcd_endpoints 127.0.0.1:2379")?.hasPrefix("r.conf:8: etcd_endpoints: expects URLs like http://host:port") == true)
        #expect(error(minimal + "\nnode_name a/b")?.hasPrefix("r.conf:8: node_name: 'a/b' may hold only") == true)
        #expect(error(minimal + "\ncluster_advertise nowhere")?.hasPrefix("r.conf:8: cluster_advertise: expects HOST:PORT") == true)
        // An edge mistake after the cluster lines keeps its own line number.
        #expect(error(minimal + "\nmax_queud_messages 5")?.hasPrefix("r.conf:8: ") == true)
        #expect(error("cluster_name x\nnode_name y\netcd_endpoints http://h:1\n")?.contains("cluster_listener is required") == true)
        #expect(error(minimal + "\ncluster_secret short")?.hasPrefix("r.conf:8: cluster_secret: must be at least 16 characters") == true)
        let withoutSecret = minimal.split(separator: "\n").filter { !$0.hasPrefix("cluster_secret") }.joined(separator: "\n")
        #expect(error(withoutSecret)?.contains("cluster_secret is required") == true)
    }

    @Test func mutualTLSBetweenNodesWithOrWithoutASecret() throws {
        let withoutSecret = minimal.split(separator: "\n").filter { !$0.hasPrefix("cluster_secret") }.joined(separator: "\n")
        let tls = "\ncluster_cafile /etc/meridian/ca.pem\ncluster_certfile /etc/meridian/node.pem\ncluster_keyfile /etc/meridian/node.key"
        let mtlsOnly = try RegionConfigParser.parse(text: withoutSecret + tls, file: "r.conf")
        #expect(mtlsOnly.cluster.linkTLS == .init(caFile: "/etc/meridian/ca.pem", certFile: "/etc/meridian/node.pem", keyFile: "/etc/meridian/node.key"))
        #expect(mtlsOnly.cluster.clusterSecret == "")
        let both = try RegionConfigParser.parse(text: minimal + tls, file: "r.conf")
        #expect(both.cluster.linkTLS != nil && both.cluster.clusterSecret == "correct-horse-battery-staple")
        #expect(try RegionConfigParser.parse(text: minimal, file: "r.conf").cluster.linkTLS == nil)
        // One without the others names its line.
        do {
            _ = try RegionConfigParser.parse(text: minimal + "\ncluster_certfile /etc/meridian/node.pem", file: "r.conf")
            Issue.record("a certificate without its CA and key was accepted")
        } catch {
            #expect("\(error)".hasPrefix("r.conf:8: cluster_certfile: cluster_cafile, cluster_certfile and cluster_keyfile go together"), "\(error)")
        }
    }

    @Test func clusterDirectivesInAnIncludedFile() throws {
        let main = "listener 1883\nallow_anonymous true\ninclude_dir /etc/meridian/conf.d\n"
        let included = "cluster_name eu\nnode_name n1\ncluster_listener 7883\netcd_endpoints http://127.0.0.1:2379\ncluster_secret 0123456789abcdef\n"
        let config = try RegionConfigParser.parse(text: main, file: "r.conf") { _ in [("/etc/meridian/conf.d/cluster.conf", included)] }
        #expect(config.cluster.clusterName == "eu" && config.cluster.nodeName == "n1")
    }
}
