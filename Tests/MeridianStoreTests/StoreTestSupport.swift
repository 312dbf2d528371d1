import MeridianMQTT
import MeridianStore
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A directory under /tmp made with mkdtemp, removed with its content by ``remove()``.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/meridian-store-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: \(errno)")
        path = String(cString: template)
    }

    var databasePath: String { path + "/meridian.db" }

    func file(_ name: String) -> String { path + "/" + name }

    func entries() -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    func remove() {
        for name in entries() { unlink(file(name)) }
        rmdir(path)
    }
}

/// Collects the store's log lines.
final class LogLines: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var lines: [String] = []

    init() { pthread_mutex_init(&mutex, nil) }

    var sink: @Sendable (String) -> Void { { [self] line in append(line) } }

    func append(_ line: String) {
        pthread_mutex_lock(&mutex)
        lines.append(line)
        pthread_mutex_unlock(&mutex)
    }

    var all: [String] {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return lines
    }

    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

/// A tiny counter/lock for tests that collect results from several threads.
final class Locked<Value>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var value: Value

    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(&mutex, nil)
    }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body(&value)
    }
}

let testNow: Int64 = 1_750_000_000
let testLoop = MultiThreadedEventLoopGroup.singleton.any()

func openStore(
    _ directory: TemporaryDirectory, now: Int64 = testNow, sync: StoreSync = .normal, maxBatchDelay: TimeAmount = .milliseconds(1),
    log: LogLines = LogLines()
) throws -> (SQLiteStore, RecoveredState) {
    try SQLiteStore.open(
        options: .init(directory: directory.path, sync: sync, maxBatchDelay: maxBatchDelay), now: now, log: log.sink)
}

/// Opens, reads the recovered state and closes again.
func recover(_ directory: TemporaryDirectory, now: Int64 = testNow, log: LogLines = LogLines()) throws -> RecoveredState {
    let (store, state) = try openStore(directory, now: now, log: log)
    store.close()
    return state
}

func message(
    _ topic: String, _ payload: String, qos: MQTTQoS = .atLeastOnce, retain: Bool = false,
    properties: MQTTProperties = [], expiresAt: Int64? = nil, subscriptionIdentifiers: [UInt32] = []
) -> StoredMessage {
    StoredMessage(
        topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, properties: properties,
        expiresAt: expiresAt, subscriptionIdentifiers: subscriptionIdentifiers)
}

func session(_ clientID: String, expiry: UInt32 = 3600, version: MQTTProtocolVersion = .v5, disconnectedAt: Int64? = nil)
    -> StoredSession
{
    StoredSession(clientID: clientID, expiryInterval: expiry, protocolVersion: version, disconnectedAt: disconnectedAt)
}

extension SQLiteStore {
    /// Commits and waits.
    func commitAndWait(_ operations: [StoreOperation]) async throws {
        try await commit(operations, on: testLoop).get()
    }
}

extension RecoveredState {
    func session(_ clientID: String) -> RecoveredSession? {
        sessions.first { $0.session.clientID == clientID }
    }
}
