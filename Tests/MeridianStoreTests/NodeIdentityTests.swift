@testable import MeridianStore
import Testing

/// The broker's identity lives in its store (schema version 3): the same id at every start, a new
/// incarnation each time, and a new id only for a new store.
@Suite struct NodeIdentityTests {
    @Test("the id survives restarts; the incarnation counts them")
    func idAndIncarnation() throws {
        let dir = TemporaryDirectory()
        var seen: [StoredNodeIdentity] = []
        for _ in 0..<3 {
            let (store, state) = try openStore(dir)
            seen.append(try #require(state.node))
            store.close()
        }
        #expect(Set(seen.map(\.id)).count == 1)
        #expect(seen.map(\.incarnation) == [1, 2, 3])
        #expect(seen[0].id.allSatisfy { $0.isLetter || $0.isNumber } && !seen[0].id.isEmpty)
        let other = TemporaryDirectory()
        let (store, state) = try openStore(other)
        store.close()
        #expect(state.node?.id != seen[0].id, "a new store is a new node")
        #expect(state.node?.incarnation == 1)
    }
}
