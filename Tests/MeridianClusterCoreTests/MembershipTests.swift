import MeridianClusterCore
import Testing

/// Membership learned from etcd's key events only.
@Suite struct MembershipTests {
    private let prefix = "/meridian/clusters/eu/members/"

    @Test func loadThenWatchEvents() {
        var table = Membership(prefix: prefix)
        let loaded = table.load([
            (prefix + "b", "127.0.0.1:7002", 12), (prefix + "a", "127.0.0.1:7001", 10), ("/meridian/other", "x", 3),
        ], revision: 15)
        #expect(loaded == [
            .joined(Member(name: "a", incarnation: 10, advertise: "127.0.0.1:7001")),
            .joined(Member(name: "b", incarnation: 12, advertise: "127.0.0.1:7002")),
        ])
        #expect(table.revision == 15)
        #expect(table.put(key: prefix + "c", value: "127.0.0.1:7003", createRevision: 16, revision: 16)
            == [.joined(Member(name: "c", incarnation: 16, advertise: "127.0.0.1:7003"))])
        #expect(table.delete(key: prefix + "b", revision: 17) == [.left(Member(name: "b", incarnation: 12, advertise: "127.0.0.1:7002"))])
        #expect(table.members.keys.sorted() == ["a", "c"])
    }

    @Test func aNewIncarnationReplacesTheOldOne() {
        var table = Membership(prefix: prefix)
        _ = table.put(key: prefix + "a", value: "h:1", createRevision: 10, revision: 10)
        // The old key expired and the node joined again in one step the watch sees as a put.
        #expect(table.put(key: prefix + "a", value: "h:1", createRevision: 20, revision: 20)
            == [.restarted(old: Member(name: "a", incarnation: 10, advertise: "h:1"), new: Member(name: "a", incarnation: 20, advertise: "h:1"))])
        // An event at or below the table's revision (a replayed watch) changes nothing.
        let replayedPut = table.put(key: prefix + "a", value: "h:1", createRevision: 10, revision: 19)
        let replayedDelete = table.delete(key: prefix + "a", revision: 20)
        #expect(replayedPut.isEmpty && replayedDelete.isEmpty)
        #expect(table.members["a"]?.incarnation == 20)
    }

    @Test func aReloadAfterALostWatchReportsWhatChangedMeanwhile() {
        var table = Membership(prefix: prefix)
        _ = table.load([(prefix + "a", "h:1", 10), (prefix + "b", "h:2", 11)], revision: 11)
        let changes = table.load([(prefix + "a", "h:1", 30), (prefix + "c", "h:3", 31)], revision: 31)
        #expect(changes == [
            .left(Member(name: "b", incarnation: 11, advertise: "h:2")),
            .restarted(old: Member(name: "a", incarnation: 10, advertise: "h:1"), new: Member(name: "a", incarnation: 30, advertise: "h:1")),
            .joined(Member(name: "c", incarnation: 31, advertise: "h:3")),
        ])
    }

    @Test func keysOutsideTheMemberPrefixAreNotMembers() {
        let table = Membership(prefix: prefix)
        #expect(table.name(of: prefix + "a") == "a")
        #expect(table.name(of: prefix) == nil)
        #expect(table.name(of: prefix + "a/b") == nil)
        #expect(table.name(of: "/meridian/clusters/us/members/a") == nil)
    }
}
