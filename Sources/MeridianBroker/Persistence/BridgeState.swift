import MeridianStore
import NIOConcurrencyHelpers
import NIOCore

/// A component's own durable state: a few named values (the store's `bridge_state` table, schema
/// v4) read at start-up and written through the store, such as the highest epoch a bridge has seen
/// of its remote, or the session transfers a region node installed. Without persistence the values
/// live in memory for the life of the process.
public final class BridgeState: Sendable {
    public let bridge: String
    private let store: DurableStore?
    private let values: NIOLockedValueBox<[String: String]>

    init(bridge: String, store: DurableStore?, recovered: [String: String]) {
        self.bridge = bridge
        self.store = store
        self.values = NIOLockedValueBox(recovered)
    }

    public subscript(key: String) -> String? {
        values.withLockedValue { $0[key] }
    }

    /// Records `value` (nil removes it). The future succeeds once the store committed it (at once
    /// without a store), so that a decision that must survive a restart can wait for it.
    @discardableResult
    public func set(_ key: String, _ value: String?, on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        guard let operation = record(key, value), let store else { return eventLoop.makeSucceededVoidFuture() }
        return store.commit([operation], on: eventLoop)
    }

    /// Records `value` in memory and returns the store operation that keeps it (nil without a
    /// store), for a caller that commits it together with other operations.
    func record(_ key: String, _ value: String?) -> StoreOperation? {
        values.withLockedValue { $0[key] = value }
        return store == nil ? nil : .putBridgeState(bridge: bridge, key: key, value: value)
    }
}
