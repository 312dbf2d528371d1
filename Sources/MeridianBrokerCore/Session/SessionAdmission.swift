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

/// What ending a session for a client that connects on another node did.
public enum SessionEnding: Sendable, Equatable {
    /// There was none.
    case none
    /// It ended (its connection, if any, was taken over).
    case ended
    /// It belongs to another user and stays.
    case ownedByAnotherUser
}

/// A persistent session taken from this node for a client that reconnects on another, with what
/// it still owes that client; the other node installs it before the client attaches.
public struct TakenSession: Sendable {
    public struct Subscription: Sendable, Equatable {
        public var filter: String
        public var options: MQTTSubscriptionOptions
        public var identifier: UInt32?

        public init(filter: String, options: MQTTSubscriptionOptions, identifier: UInt32?) {
            self.filter = filter
            self.options = options
            self.identifier = identifier
        }
    }

    public var clientIdentifier: String
    public var expiryInterval: UInt32
    public var protocolVersion: MQTTProtocolVersion
    /// The username of the client that owns it (a session belongs to the username that created it).
    public var username: String?
    /// A message sent to the client and not yet acknowledged, under its packet identifier;
    /// `released` once its PUBREC came (only the PUBREL is due).
    public struct InFlight: Sendable {
        public var packetIdentifier: UInt16
        public var delivery: Delivery
        public var released: Bool

        public init(packetIdentifier: UInt16, delivery: Delivery, released: Bool) {
            self.packetIdentifier = packetIdentifier
            self.delivery = delivery
            self.released = released
        }
    }

    public var subscriptions: [Subscription]
    /// Sent and unacknowledged, in sending order.
    public var inflight: [InFlight]
    /// Queued, not sent yet.
    public var deliveries: [Delivery]

    public init(
        clientIdentifier: String, expiryInterval: UInt32, protocolVersion: MQTTProtocolVersion, username: String?,
        subscriptions: [Subscription], inflight: [InFlight] = [], deliveries: [Delivery]
    ) {
        self.inflight = inflight
        self.clientIdentifier = clientIdentifier
        self.expiryInterval = expiryInterval
        self.protocolVersion = protocolVersion
        self.username = username
        self.subscriptions = subscriptions
        self.deliveries = deliveries
    }
}
