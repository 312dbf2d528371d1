import MeridianClusterCore
import Testing

/// Transcripts of route replication: node-owned entries, stamped (node, incarnation, sequence).
@Suite struct RouteTableTests {
    private func update(_ node: String, _ incarnation: Int64, _ sequence: UInt64, _ change: RouteUpdate.Change) -> RouteUpdate {
        RouteUpdate(node: node, incarnation: incarnation, sequence: sequence, change: change)
    }

    @Test func updatesInOrderRouteTopicsToNodes() {
        var table = RouteTable()
        #expect(table.apply(update("b", 5, 1, .add("sensors/#"))) == .applied)
        #expect(table.apply(update("c", 7, 1, .add("sensors/+/temp"))) == .applied)
        #expect(table.apply(update("c", 7, 2, .add("sensors/1/temp"))) == .applied)
        #expect(table.nodes(for: "sensors/1/temp").nodes == ["b", "c"])  // c once, for two filters
        #expect(table.nodes(for: "sensors/1/hum").nodes == ["b"])
        #expect(table.apply(update("b", 5, 2, .remove("sensors/#"))) == .applied)
        #expect(table.nodes(for: "sensors/1/hum").nodes.isEmpty)
        #expect(table.count == 2)
    }

    @Test func staleRepeatedAndMissingUpdates() {
        var table = RouteTable()
        #expect(table.apply(update("b", 5, 1, .add("x"))) == .applied)
        #expect(table.apply(update("b", 5, 1, .add("y"))) == .stale)  // a repeat
        #expect(table.apply(update("b", 5, 3, .add("z"))) == .needsSnapshot)  // 2 went missing
        #expect(table.filters(of: "b") == ["x"])
        #expect(table.apply(update("b", 5, 4, .snapshot(["x", "z"]))) == .applied)
        #expect(table.filters(of: "b") == ["x", "z"])
        // An older incarnation (a restarted node's last words arriving late) is ignored.
        #expect(table.apply(update("b", 4, 9, .add("old"))) == .stale)
        // A first update that is not a snapshot and not the first of its incarnation: ask.
        #expect(table.apply(update("d", 1, 5, .add("q"))) == .needsSnapshot)
    }

    @Test func aNewIncarnationReplacesEverythingOfTheOldOne() {
        var table = RouteTable()
        _ = table.apply(update("b", 5, 1, .add("a")))
        _ = table.apply(update("b", 5, 2, .add("b")))
        #expect(table.apply(update("b", 9, 3, .add("c"))) == .needsSnapshot)
        #expect(table.filters(of: "b").isEmpty)  // the old incarnation's routes are void at once
        #expect(table.apply(update("b", 9, 1, .snapshot(["c"]))) == .applied)
        #expect(table.nodes(for: "a").nodes.isEmpty && table.nodes(for: "c").nodes == ["b"])
    }

    @Test func aNodeThatLeavesTakesItsRoutes() {
        var table = RouteTable()
        _ = table.apply(update("b", 5, 1, .snapshot(["#", "$share/g/jobs/+"])))
        #expect(table.nodes(for: "jobs/1").sharedGroups.map(\.nodes) == [["b"]])
        table.drop(node: "b")
        #expect(table.count == 0 && table.nodes(for: "jobs/1").nodes.isEmpty)
    }

    @Test func localRoutesAnnounceOnlyTheFirstAndLastSubscriber() {
        var local = LocalRoutes(node: "a", incarnation: 3)
        let first = local.subscribed("t/#")
        let second = local.subscribed("t/#")
        let oneLeft = local.unsubscribed("t/#")
        let lastLeft = local.unsubscribed("t/#")
        let unknown = local.unsubscribed("never")
        #expect(first == RouteUpdate(node: "a", incarnation: 3, sequence: 1, change: .add("t/#")))
        #expect(second == nil && oneLeft == nil && unknown == nil)
        #expect(lastLeft == RouteUpdate(node: "a", incarnation: 3, sequence: 2, change: .remove("t/#")))
        _ = local.subscribed("u")
        local.rejoined(incarnation: 8)
        let snapshot = local.snapshot()
        #expect(snapshot == RouteUpdate(node: "a", incarnation: 8, sequence: 0, change: .snapshot(["u"])))

        // What one node announces, another applies, in order.
        var table = RouteTable()
        #expect(table.apply(snapshot) == .applied)
        let added = local.subscribed("v")!
        #expect(table.apply(added) == .applied)
        #expect(table.filters(of: "a") == ["u", "v"])
    }
}
