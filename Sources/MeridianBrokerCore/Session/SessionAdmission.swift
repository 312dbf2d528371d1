import MeridianMQTT
import NIOCore

/// A CONNECT that passed authentication, asking to have its session on this node.
public struct AdmissionRequest: Sendable, Equatable {
    public var clientIdentifier: String
    /// The username the ACL and session ownership use (a certificate's name on identity listeners).
    public var username: String?
    public var cleanStart: Bool
    public var protocolVersion: MQTTProtocolVersion
    /// A client of the node's own (a bridge's local side, a session of a peer node): its session
    /// belongs to this node, whatever its client id.
    public var inProcess: Bool

    public init(clientIdentifier: String, username: String?, cleanStart: Bool, protocolVersion: MQTTProtocolVersion, inProcess: Bool = false) {
        self.clientIdentifier = clientIdentifier
        self.username = username
        self.cleanStart = cleanStart
        self.protocolVersion = protocolVersion
        self.inProcess = inProcess
    }
}

/// What the admission seam answers.
public enum AdmissionDecision: Sendable, Equatable {
    /// The session may live here: the broker attaches it (and decides takeovers among its own sessions).
    case admit
    /// Refused, with an MQTT 5 reason code (mapped to the nearest 3.1.1 return code for older clients).
    case refuse(MQTTReasonCode)
    /// The client belongs elsewhere: CONNACK with `reason` (0x9C Use another server, 0x9D Server moved)
    /// and a Server Reference; 3.1.1 clients get return code 3, Server unavailable.
    case redirect(reason: MQTTReasonCode, serverReference: String)
}

/// The seam through which every CONNECT and session takeover passes before the broker attaches
/// the session: the edge admits everything locally; a region node asks its cluster who owns the
/// client id, and whether the node may serve at all (fencing), which takes time — hence a future.
/// The connection reads nothing more from its client until the answer is in.
public protocol SessionAdmission: Sendable {
    func admit(_ request: AdmissionRequest, on eventLoop: EventLoop) -> EventLoopFuture<AdmissionDecision>
}

/// The edge's admission: one process owns every session it has, so every request is admitted here.
public struct LocalAdmission: SessionAdmission {
    public init() {}

    public func admit(_ request: AdmissionRequest, on eventLoop: EventLoop) -> EventLoopFuture<AdmissionDecision> {
        eventLoop.makeSucceededFuture(.admit)
    }
}
