/// A `meridian-region` configuration: the edge's (listeners, security, persistence, bridges, …)
/// plus the directives of a cluster node.
public struct RegionConfiguration: Sendable, Equatable {
    /// Everything a region node shares with the edge.
    public var edge: EdgeConfiguration
    public var cluster: ClusterSettings

    public init(edge: EdgeConfiguration, cluster: ClusterSettings) {
        self.edge = edge
        self.cluster = cluster
    }
}

/// The directives of a cluster node.
public struct ClusterSettings: Sendable, Equatable {
    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    /// `cluster_name` (required).
    public var clusterName: String
    /// `node_name` (required): unique among the cluster's live nodes.
    public var nodeName: String
    /// `cluster_listener PORT [ADDRESS]` (required): where inter-node links arrive.
    public var listenerPort: Int
    public var listenerAddress: String?
    /// `cluster_advertise HOST:PORT`: how peers reach the listener (default: its address and port).
    public var advertise: Endpoint?
    /// `etcd_endpoints` (required): `http://host:port` (or `https://` with the TLS options).
    public var etcdEndpoints: [String]
    /// `etcd_prefix` (default `/meridian`), without a trailing slash.
    public var etcdPrefix = "/meridian"
    public var etcdCAFile: String?
    public var etcdCertFile: String?
    public var etcdKeyFile: String?
    /// `membership_ttl` in seconds (default 10, at least 2).
    public var membershipTTL = 10
    /// `cluster_secret` (required without mTLS): what a node proves on an inter-node link; every node shares it.
    public var clusterSecret = ""
    /// mTLS between nodes: `cluster_cafile`, `cluster_certfile`, `cluster_keyfile` (all three, or none).
    public var linkTLS: LinkTLS?

    public struct LinkTLS: Sendable, Equatable {
        /// The CA every node's certificate must be signed by.
        public var caFile: String
        /// This node's certificate (presented both when it dials and when it accepts) and key.
        public var certFile: String
        public var keyFile: String

        public init(caFile: String, certFile: String, keyFile: String) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    public init(clusterName: String, nodeName: String, listenerPort: Int, etcdEndpoints: [String]) {
        self.clusterName = clusterName
        self.nodeName = nodeName
        self.listenerPort = listenerPort
        self.etcdEndpoints = etcdEndpoints
    }

    /// The address peers use: `cluster_advertise`, else the listener's (127.0.0.1 when it binds all).
    public var advertisedEndpoint: Endpoint {
        advertise ?? Endpoint(host: listenerAddress.flatMap { $0 == "0.0.0.0" || $0 == "::" ? nil : $0 } ?? "127.0.0.1", port: listenerPort)
    }

    /// The prefix of this cluster's member keys.
    public var memberPrefix: String { "\(etcdPrefix)/clusters/\(clusterName)/members/" }
    /// Where the session shards' claims and the ready keys live (``ShardClaims``).
    public var sessionsPrefix: String { "\(etcdPrefix)/clusters/\(clusterName)/sessions/" }
}
