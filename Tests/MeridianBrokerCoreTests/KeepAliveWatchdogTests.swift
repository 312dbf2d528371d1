import MeridianBrokerCore
import NIOCore
import Testing

@Suite("Keep-alive watchdog")
struct KeepAliveWatchdogTests {
    static func at(_ milliseconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(milliseconds) * 1_000_000) }

    @Test("keep-alive 0 has no watchdog")
    func zero() {
        #expect(KeepAliveWatchdog(keepAlive: 0, now: Self.at(0)) == nil)
    }

    @Test("transcript: a peer heard within 1.5 x keep-alive stays alive; silence for 1.5 x expires it")
    func transcript() throws {
        var watchdog = try #require(KeepAliveWatchdog(keepAlive: 10, now: Self.at(0)))
        #expect(watchdog.check(now: Self.at(14_999)) == .alive(checkAt: Self.at(15_000)))
        watchdog.heard(at: Self.at(14_000))
        #expect(watchdog.check(now: Self.at(15_000)) == .alive(checkAt: Self.at(29_000)))
        // A late, out-of-order time does not move the last activity back.
        watchdog.heard(at: Self.at(1_000))
        #expect(watchdog.check(now: Self.at(28_999)) == .alive(checkAt: Self.at(29_000)))
        #expect(watchdog.check(now: Self.at(29_000)) == .expired)
    }
}
