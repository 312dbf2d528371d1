import MeridianBrokerCore
import MeridianMQTT
import Testing

@Suite struct MeshTraceTests {
    @Test("a message without a trace has crossed no link and has no identity")
    func untraced() {
        #expect(MeshTrace.read([.contentType("text/plain")]) == .init(hops: 0, id: nil))
    }

    @Test("stamping replaces an earlier trace and keeps the other properties")
    func stampReplaces() {
        var properties: MQTTProperties = [.userProperty("a", "1"), .userProperty(MeshTrace.hopsKey, "2"), .userProperty(MeshTrace.idKey, "old")]
        MeshTrace.stamp(&properties, hops: 3, id: "n1-2a")
        #expect(MeshTrace.read(properties) == .init(hops: 3, id: "n1-2a"))
        #expect(properties.userProperties.map(\.0) == ["a", MeshTrace.idKey, MeshTrace.hopsKey])
    }

    @Test("a malformed hop count reads as 0")
    func malformedHops() {
        #expect(MeshTrace.read([.userProperty(MeshTrace.hopsKey, "-4")]).hops == 0)
        #expect(MeshTrace.read([.userProperty(MeshTrace.hopsKey, "many")]).hops == 0)
    }

    @Test("a broker recognises its own identities, not another node's that merely shares a prefix")
    func ownIdentity() {
        let id = MeshTrace.identity(node: "abc", sequence: 255)
        #expect(id == "abc-ff")
        #expect(MeshTrace.isOwn(id, node: "abc"))
        #expect(!MeshTrace.isOwn("abcd-ff", node: "abc"))
        #expect(!MeshTrace.isOwn("ab-ff", node: "abc"))
        #expect(!MeshTrace.isOwn("abc", node: "abc"))
    }

    @Test("recent identities: a second copy is refused; the oldest is forgotten past the capacity")
    func recentIdentities() {
        var recent = RecentMessageIDs(capacity: 3)
        let firstA = recent.insert("a")
        let secondA = recent.insert("a")
        #expect(firstA && !secondA)
        let others = ["b", "c", "d"].map { recent.insert($0) }
        #expect(others == [true, true, true])
        #expect(recent.count == 3)
        let aAgain = recent.insert("a")
        #expect(aAgain, "the oldest identity was forgotten")
        let cAgain = recent.insert("c")
        #expect(!cAgain)
    }
}
