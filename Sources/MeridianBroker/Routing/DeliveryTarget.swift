import MeridianMQTT
import MeridianSecurity

/// Where an attached session's messages go: a client's connection, or an in-process client of the
/// broker (a bridge's local side). Routing and sessions know their targets only through this
/// protocol, so a target elsewhere (a remote node) plugs in without routing code changing.
///
/// Every method is called on the target's own event loop (``loopContext``); deliveries from other
/// loops hop there in batches (``LoopContext/flush()``).
protocol DeliveryTarget: AnyObject {
    /// The loop the target lives on.
    var loopContext: LoopContext { get }
    /// Its index (read on every delivery: a plain integer, no reference to retain).
    var loopIndex: Int { get }
    /// Sends one PUBLISH the session's flow released (its packet identifier already assigned).
    func deliver(_ publish: MQTTPublish)
    /// Sends what the session queued for it (see ``OutboundFlow/drain(now:mayRead:)``).
    func drainSession()
    /// Writes out what ``deliver(_:)`` buffered; called once per batch.
    func flushIfNeeded()
    /// Another connection took the session over: the target stops serving it.
    func sessionTakenOver()
    /// A security reload: the target's publish and subscribe decisions, and a re-check of how it was let in.
    func securityChanged(access: CachedClientAccess?, policy: SecurityPolicy)
    /// This node stops serving clients (fenced): a client connection is told where to go and closed.
    func sendElsewhere(reason: MQTTReasonCode, serverReference: String?)
}

/// A publisher whose reading paused because a session it published to had a full queue
/// (the backpressure policy); it resumes when that queue drains or its client leaves.
protocol PausedPublisher: AnyObject {
    var loopContext: LoopContext { get }
    func backpressureReleased(by handle: SessionHandle)
}
