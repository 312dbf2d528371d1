import MeridianMQTT
import Testing

@Suite struct TopicTests {
    @Test(arguments: [
        ("a", true), ("a/b/c", true), ("/", true), ("a//b", true), ("/a", true), ("a/", true), ("$SYS/broker", true),
        ("ü/€", true), (" ", true),
        ("", false), ("a/+", false), ("#", false), ("a/b#", false), ("a\u{0}b", false),
        (String(repeating: "a", count: 65_535), true), (String(repeating: "a", count: 65_536), false),
    ])
    func topicNames(_ topic: String, _ valid: Bool) {
        #expect(MQTTTopic.isValidName(topic) == valid)
    }

    @Test(arguments: [
        ("a", true), ("a/b", true), ("#", true), ("+", true), ("a/#", true), ("a/+/b", true), ("+/+", true),
        ("/+", true), ("+/", true), ("a//b", true), ("/", true), ("$SYS/#", true), ("//#", true),
        ("", false), ("a#", false), ("a/#/b", false), ("a/b#", false), ("#/", false), ("a+", false), ("a/+b", false),
        ("++", false), ("a\u{0}", false),
        ("$share/g/a/b", true), ("$share/g/#", true), ("$share/g/+/x", true), ("$share/group-1//", true),
        ("$share/g/", false), ("$share/g", false), ("$share//a", false), ("$share/g+/a", false), ("$share/g#/a", false),
        ("$share/g/a#", false), ("$share/", false), ("$shared/g/a", true), ("$share", true),
    ])
    func topicFilters(_ filter: String, _ valid: Bool) {
        #expect(MQTTTopic.isValidFilter(filter) == valid)
    }

    @Test(arguments: [
        ("a/b", "a/b", true), ("a/b", "a/c", false), ("a/b", "a", false), ("a", "a/b", false),
        ("a/+", "a/b", true), ("a/+", "a", false), ("a/+", "a/", true), ("a/+", "a/b/c", false),
        ("+/b", "a/b", true), ("+", "a", true), ("+", "", true), ("+", "/", false), ("+/+", "/", true),
        ("a/#", "a", true), ("a/#", "a/b", true), ("a/#", "a/b/c", true), ("a/#", "ab", false), ("a/#", "b/a", false),
        ("#", "a", true), ("#", "/", true), ("#", "a/b/c", true),
        ("a//b", "a//b", true), ("a/+/b", "a//b", true), ("a//b", "a/b", false), ("a/b/", "a/b/", true),
        ("a/b/", "a/b", false), ("a/b", "a/b/", false), ("/a", "/a", true), ("+/a", "/a", true), ("/#", "/a/b", true),
        // Section 4.7.2: `$` topics are not matched by leading wildcards.
        ("#", "$SYS/broker", false), ("+/broker", "$SYS/broker", false), ("$SYS/#", "$SYS/broker", true),
        ("$SYS/+", "$SYS/broker", true), ("$SYS", "$SYS", true), ("a/#", "a/$b", true), ("+/$b", "a/$b", true),
        // Shared filters match what their inner filter matches.
        ("$share/g/a/+", "a/b", true), ("$share/g/#", "x/y", true), ("$share/g/#", "$SYS/x", false), ("$share/g/a", "b", false),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true), ("sport/+/player1", "sport/tennis/player1", true),
        ("ü/+", "ü/€", true), ("€", "ü", false),
    ])
    func matching(_ filter: String, _ topic: String, _ expected: Bool) {
        #expect(MQTTTopic.matches(filter: filter, topic: topic) == expected, "\(filter) vs \(topic)")
    }

    @Test func sharedFilterParsing() {
        #expect(MQTTSharedFilter(parsing: "$share/g/a/b") == MQTTSharedFilter(group: "g", filter: "a/b"))
        #expect(MQTTSharedFilter(parsing: "$share/group/#")?.filter == "#")
        #expect(MQTTSharedFilter(parsing: "$share/g") == MQTTSharedFilter(group: "g", filter: ""))
        #expect(MQTTSharedFilter(parsing: "$share//x") == MQTTSharedFilter(group: "", filter: "x"))
        #expect(MQTTSharedFilter(parsing: "a/b") == nil)
        #expect(MQTTSharedFilter(parsing: "$shared/g/a") == nil)
        #expect(MQTTSharedFilter(parsing: "$share") == nil)
    }
}
