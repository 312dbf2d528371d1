import MeridianMQTT
import NIOCore

/// The opening of an inter-node link, in MQTT 5 framing: the dialing node sends a CONNECT that
/// names its cluster, node and incarnation and proves the shared `cluster_secret`; the accepting
/// node answers with a CONNACK that names itself, or refuses and closes. Pure: packets in, verdicts out.
public enum PeerHandshake {
    /// The client identifier of every link's CONNECT (nodes are told apart by the user properties).
    public static let clientIdentifier = "meridian-node"
    static let clusterKey = "meridian-cluster"
    static let nodeKey = "meridian-node"
    static let incarnationKey = "meridian-incarnation"

    /// Who one end of a link is.
    public struct Hello: Sendable, Hashable {
        public var cluster: String
        public var node: String
        public var incarnation: Int64

        public init(cluster: String, node: String, incarnation: Int64) {
            self.cluster = cluster
            self.node = node
            self.incarnation = incarnation
        }

        var properties: MQTTProperties {
            [.userProperty(clusterKey, cluster), .userProperty(nodeKey, node), .userProperty(incarnationKey, "\(incarnation)")]
        }

        init?(_ properties: MQTTProperties) {
            var cluster: String?
            var node: String?
            var incarnation: Int64?
            for case .userProperty(let key, let value) in properties.list {
                switch key {
                case clusterKey: cluster = value
                case nodeKey: node = value
                case incarnationKey: incarnation = Int64(value)
                default: break
                }
            }
            guard let cluster, let node, let incarnation, !node.isEmpty else { return nil }
            self.init(cluster: cluster, node: node, incarnation: incarnation)
        }
    }

    /// The dialing node's CONNECT.
    public static func connect(_ hello: Hello, secret: String, keepAlive: UInt16) -> MQTTConnect {
        MQTTConnect(
            protocolVersion: .v5, cleanStart: true, keepAlive: keepAlive, clientIdentifier: clientIdentifier,
            properties: hello.properties, will: nil, username: hello.node, password: ByteBuffer(string: secret))
    }

    public enum Verdict: Sendable, Hashable {
        case accept(Hello)
        /// Close the link after a CONNACK with this reason; the text is for the log.
        case refuse(MQTTReasonCode, String)
    }

    /// What TLS proved about the other end of a link.
    public enum Proof: Sendable, Hashable {
        /// Links without TLS: the secret is the proof.
        case none
        /// The other end's certificate, verified against the cluster's CA, with this common name
        /// (nil: none readable). It must be the node's name: a certificate of one node cannot
        /// stand for another.
        case certificate(commonName: String?)
    }

    /// The accepting node's decision on a CONNECT received on its cluster listener.
    /// - Parameter joined: whether this node is a member now (holds a member key, so an incarnation).
    ///   A node still starting (waiting for its name, after a `kill -9`, say) takes no link: it would
    ///   route what the peer resends before it can open the peer's session, and drop the link again.
    public static func verify(
        _ connect: MQTTConnect, cluster: String, node: String, secret: String, joined: Bool, proof: Proof = .none
    ) -> Verdict {
        guard connect.protocolVersion == .v5, connect.clientIdentifier == clientIdentifier, let hello = Hello(connect.properties) else {
            return .refuse(.notAuthorized, "not an inter-node link")
        }
        var password = connect.password ?? ByteBuffer()
        let presented = password.readBytes(length: password.readableBytes) ?? []
        guard constantTimeEqual(presented, Array(secret.utf8)) else {
            return .refuse(.badUserNameOrPassword, "node \(hello.node): wrong cluster_secret")
        }
        guard hello.cluster == cluster else { return .refuse(.notAuthorized, "node \(hello.node) is of cluster \(hello.cluster), not \(cluster)") }
        guard hello.node != node, connect.username == hello.node else {
            return .refuse(.notAuthorized, "node \(hello.node): a link from this node's own name")
        }
        if case .certificate(let name) = proof, name != hello.node {
            return .refuse(.notAuthorized, "node \(hello.node): its certificate is for \(name.map { "\"\($0)\"" } ?? "no name")")
        }
        guard joined else { return .refuse(.serverUnavailable, "node \(hello.node): this node has not joined its cluster yet") }
        return .accept(hello)
    }

    /// The accepting node's CONNACK for a link it accepted.
    public static func connack(_ hello: Hello) -> MQTTConnack {
        MQTTConnack(sessionPresent: false, reasonCode: .success, properties: hello.properties)
    }

    public enum Answer: Sendable, Hashable {
        case accepted(Hello)
        case refused(MQTTReasonCode)
        /// The node answered with a certificate for another name (or none readable): not the peer.
        case wrongCertificate(commonName: String?)
    }

    /// The dialing node's reading of the CONNACK: who answered, or why it refused.
    public static func answer(_ connack: MQTTConnack, expectedNode: String, proof: Proof = .none) -> Answer {
        guard connack.reasonCode == .success else { return .refused(connack.reasonCode) }
        guard let hello = Hello(connack.properties), hello.node == expectedNode else { return .refused(.notAuthorized) }
        if case .certificate(let name) = proof, name != expectedNode { return .wrongCertificate(commonName: name) }
        return .accepted(hello)
    }

    /// Compares in time that depends only on the lengths, so a guess learns nothing from timing.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = a.count ^ b.count
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= Int(x ^ y)
        }
        return difference == 0
    }
}
