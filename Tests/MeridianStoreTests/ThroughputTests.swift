import MeridianMQTT
import MeridianStore
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Prints appends per second for the README; asserts nothing about speed.
@Suite("Throughput (printed, not asserted)")
struct ThroughputTests {
    static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    #if DEBUG
    static let build = "debug"
    #else
    static let build = "release"
    #endif

    @Test(arguments: [StoreSync.normal, .full])
    func appendsOf64ByteMessages(sync: StoreSync) async throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir, sync: sync)
        try await store.commitAndWait([.upsertSession(session("bench"))])
        let count = 100_000
        let payload = ByteBuffer(repeating: 0x61, count: 64)
        let message = StoredMessage(topic: "sensors/room-1/temperature", payload: payload, qos: .atLeastOnce, retain: false)

        // One commit call per message, as a QoS 1 acknowledgment that waits for the disk would.
        var start = Self.seconds()
        var futures: [EventLoopFuture<Void>] = []
        futures.reserveCapacity(count)
        for i in 1...count {
            futures.append(store.commit([.appendMessage(clientID: "bench", messageID: UInt64(i), message)], on: testLoop))
        }
        try await EventLoopFuture.andAllSucceed(futures, on: testLoop).get()
        var elapsed = Self.seconds() - start
        let commitsPerCall = store.statistics.commits - 1
        print(
            "throughput (\(Self.build), synchronous=\(sync)): \(Int(Double(count) / elapsed)) appends/s "
                + "with a future each (\(count) in \(commitsPerCall) commits)")

        // Fire and forget, then one barrier.
        start = Self.seconds()
        for i in 1...count {
            store.enqueue([.appendMessage(clientID: "bench", messageID: UInt64(count + i), message)])
        }
        try await store.commitAndWait([])
        elapsed = Self.seconds() - start
        print("throughput (\(Self.build), synchronous=\(sync)): \(Int(Double(count) / elapsed)) appends/s enqueued")

        // Deleting them again (acknowledged deliveries).
        start = Self.seconds()
        for i in 1...(2 * count) {
            store.enqueue([.deleteMessage(clientID: "bench", messageID: UInt64(i))])
        }
        try await store.commitAndWait([])
        elapsed = Self.seconds() - start
        print("throughput (\(Self.build), synchronous=\(sync)): \(Int(Double(2 * count) / elapsed)) deletes/s enqueued")
        store.close()
    }
}
