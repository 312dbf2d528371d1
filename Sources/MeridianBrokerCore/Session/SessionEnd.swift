/// What follows the end of a connection (MQTT 5 3.1.2.5, 3.1.3.2.2, 3.1.4): whether and when the
/// will is published, and whether the session waits for its expiry. The rules of wills and expiry
/// in one pure function; the connection handler carries out its decision (routes the will, arms
/// the timers, keeps a delayed will in the store).
public enum SessionEnd {
    /// What is known when the connection closed.
    public struct Facts: Sendable, Equatable {
        /// The connection has a will that is still due (not discarded by DISCONNECT 0x00, a refused
        /// CONNECT, or a takeover within its delay).
        public var willDue: Bool
        /// Will Delay Interval in seconds (0 when absent).
        public var willDelay: UInt32
        /// A server shutdown: wills are not published.
        public var shuttingDown: Bool
        /// Another connection took the session over.
        public var takenOver: Bool
        /// The connection still owned its session when it closed (not taken over before).
        public var wasAttached: Bool
        /// The session ended with the connection (expiry 0, or ended by a Clean Start takeover).
        public var sessionEnded: Bool
        /// Session Expiry Interval in seconds; UInt32.max = never.
        public var sessionExpiry: UInt32

        public init(
            willDue: Bool, willDelay: UInt32 = 0, shuttingDown: Bool = false, takenOver: Bool = false,
            wasAttached: Bool = true, sessionEnded: Bool, sessionExpiry: UInt32
        ) {
            self.willDue = willDue
            self.willDelay = willDelay
            self.shuttingDown = shuttingDown
            self.takenOver = takenOver
            self.wasAttached = wasAttached
            self.sessionEnded = sessionEnded
            self.sessionExpiry = sessionExpiry
        }
    }

    public enum Will: Sendable, Equatable {
        case none
        case publishNow
        /// Published after this many seconds unless the client reconnects first (kept in the store meanwhile).
        case publishAfter(seconds: UInt32)
    }

    public struct Decision: Sendable, Equatable {
        public var will: Will
        /// Seconds until the offline session expires; nil when it never does, or ended already.
        public var expireAfter: UInt32?

        public init(will: Will, expireAfter: UInt32?) {
            self.will = will
            self.expireAfter = expireAfter
        }
    }

    public static func decide(_ facts: Facts) -> Decision {
        var will = Will.none
        if facts.willDue && !facts.shuttingDown {
            if facts.willDelay == 0 || facts.sessionEnded || facts.takenOver {
                will = .publishNow
            } else {
                // Whichever comes first: the will delay or the end of the session.
                will = .publishAfter(seconds: min(facts.willDelay, facts.sessionExpiry))
            }
        }
        let expires = facts.wasAttached && !facts.sessionEnded && facts.sessionExpiry != UInt32.max
        return Decision(will: will, expireAfter: expires ? facts.sessionExpiry : nil)
    }

    /// A takeover within the will delay cancels a delayed will (the client is back); a will without
    /// delay, or one whose session the takeover's Clean Start ended, stays due (3.1.3.2.2).
    public static func takeoverCancelsWill(willDelay: UInt32, sessionStillLive: Bool) -> Bool {
        willDelay > 0 && sessionStillLive
    }
}
