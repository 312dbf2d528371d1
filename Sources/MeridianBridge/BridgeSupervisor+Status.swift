import MeridianBroker
import NIOCore

/// One bridge's figures at one moment, for the operations endpoint (`/metrics`, `/readyz`).
public struct BridgeStatus: Sendable, Equatable {
    public var name: String
    /// The client identifier of the bridge's local session (its outbox).
    public var localClientID: String
    /// Connected to the remote (CONNACK received).
    public var connected: Bool
    /// Messages waiting for the remote: queued in the outbox plus held and not yet acknowledged.
    public var queuedMessages: Int
    public var queuedBytes: Int
    /// Sent to the remote and not yet acknowledged by it.
    public var inflight: Int
    public var forwarded: Int
    public var received: Int
    public var refusedByRemote: Int
    public var dropped: Int
    public var reconnects: Int
    /// Seconds the oldest message waiting for the remote has waited; 0 when none waits.
    public var oldestQueuedAge: Double = 0
}

extension BridgeLink {
    /// The figures now; call on `loop`.
    func status() -> BridgeStatus {
        let queue = server.queueStatistics(clientIdentifier: localClientID)
        return BridgeStatus(
            name: settings.name, localClientID: localClientID, connected: remoteReady,
            queuedMessages: (queue?.queued ?? 0) + (queue?.inflight ?? 0), queuedBytes: queue?.queuedBytes ?? 0,
            inflight: forwarding.inFlightCount, forwarded: forwarded, received: received, refusedByRemote: refusedByRemote,
            dropped: drops.values.reduce(0, +), reconnects: reconnects,
            oldestQueuedAge: server.oldestWaitingAge(clientIdentifier: localClientID) ?? 0
        )
    }
}

extension BridgeSupervisor {
    /// Every running bridge's figures, by name order. Reads each link on its own event loop.
    public func statuses() -> EventLoopFuture<[BridgeStatus]> {
        let links = runningLinks()
        let loop = server.eventLoops[0]
        let futures = links.map { link in link.loop.submit { link.status() } }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { $0.sorted { $0.name < $1.name } }
    }
}
