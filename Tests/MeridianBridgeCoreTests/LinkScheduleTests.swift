import MeridianBridgeCore
import MeridianTestSupport
import NIOCore
import Testing

@Suite("Link schedule: addresses, start types, backoff")
struct LinkScheduleTests {
    static func settings(addresses: Int, roundRobin: Bool = false, startType: BridgeSettings.StartType = .automatic) -> BridgeSettings {
        var settings = BridgeSettings(name: "b")
        settings.addresses = (0..<addresses).map { BridgeAddress(host: "h\($0)", port: 1883) }
        settings.roundRobin = roundRobin
        settings.startType = startType
        settings.restartTimeoutBase = 5
        settings.restartTimeoutCap = nil
        return settings
    }

    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("round_robin false: a failed attempt moves to the next address; a lost connection starts again from the primary")
    func primaryFirst() {
        var schedule = LinkSchedule(settings: Self.settings(addresses: 3))
        var generator = SplitMix64(seed: 1)
        let first = schedule.ended(failedAddress: true, wasConnected: false, now: Self.t0, using: &generator)
        #expect(first == .reconnect(after: .seconds(5)))
        #expect(schedule.addressIndex == 1 && schedule.isOnSecondary)
        schedule.connected(now: Self.t0)
        _ = schedule.ended(failedAddress: false, wasConnected: true, now: Self.t0 + .seconds(1), using: &generator)
        #expect(schedule.addressIndex == 0 && !schedule.isOnSecondary)
        // A primary that answers again while on a secondary is the address in use.
        _ = schedule.ended(failedAddress: true, wasConnected: false, now: Self.t0, using: &generator)
        schedule.switchedToPrimary()
        #expect(schedule.addressIndex == 0)
    }

    @Test("round_robin true: every end rotates through the addresses, wrapping around")
    func roundRobin() {
        var schedule = LinkSchedule(settings: Self.settings(addresses: 2, roundRobin: true))
        var generator = SplitMix64(seed: 2)
        var seen: [Int] = []
        for failed in [false, true, false] {
            _ = schedule.ended(failedAddress: failed, wasConnected: !failed, now: Self.t0, using: &generator)
            seen.append(schedule.addressIndex)
        }
        #expect(seen == [1, 0, 1])
        #expect(!schedule.isOnSecondary)
    }

    @Test("start_type once allows one attempt and no reconnect; lazy reconnects only from its own check")
    func startTypes() {
        var generator = SplitMix64(seed: 3)
        var once = LinkSchedule(settings: Self.settings(addresses: 1, startType: .once))
        let firstAttempt = once.attemptStarts(), secondAttempt = once.attemptStarts()
        #expect(firstAttempt && !secondAttempt)
        let afterOnce = once.ended(failedAddress: true, wasConnected: false, now: Self.t0, using: &generator)
        #expect(afterOnce == .none)
        var lazy = LinkSchedule(settings: Self.settings(addresses: 1, startType: .lazy))
        let lazyFirst = lazy.attemptStarts(), lazySecond = lazy.attemptStarts()
        #expect(lazyFirst && lazySecond)
        let afterLazy = lazy.ended(failedAddress: false, wasConnected: true, now: Self.t0, using: &generator)
        #expect(afterLazy == .none)
    }

    @Test("transcript of start_type lazy: connect at threshold, disconnect after idle_timeout without traffic, traffic keeps it up")
    func lazyTranscript() {
        var settings = Self.settings(addresses: 1, startType: .lazy)
        settings.threshold = 3
        settings.idleTimeout = 10
        var schedule = LinkSchedule(settings: settings)
        func at(_ seconds: Int64) -> NIODeadline { Self.t0 + .seconds(seconds) }
        var actions: [LinkSchedule.LazyAction] = []
        actions.append(schedule.lazyCheck(down: true, up: false, queued: 2, drained: true, traffic: 0, now: at(1)))
        actions.append(schedule.lazyCheck(down: true, up: false, queued: 3, drained: true, traffic: 0, now: at(2)))
        schedule.attemptedConnection(now: at(2))
        // Up and forwarding: traffic changes keep it up.
        actions.append(schedule.lazyCheck(down: false, up: true, queued: 0, drained: true, traffic: 3, now: at(8)))
        actions.append(schedule.lazyCheck(down: false, up: true, queued: 0, drained: true, traffic: 3, now: at(17)))
        // Ten seconds after the last traffic, nothing waiting: disconnect.
        actions.append(schedule.lazyCheck(down: false, up: true, queued: 0, drained: true, traffic: 3, now: at(18)))
        // Still something in flight: stays up, however long.
        actions.append(schedule.lazyCheck(down: false, up: true, queued: 1, drained: false, traffic: 3, now: at(60)))
        #expect(actions == [.none, .connect, .none, .none, .disconnectIdle, .none])
    }
}
