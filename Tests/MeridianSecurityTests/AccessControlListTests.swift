import MeridianSecurity
import Testing

private let deviceACL = """
    # anonymous section
    topic read public/#
    topic read $SYS/broker/uptime

    user admin
    topic readwrite #
    topic read $SYS/#
    topic deny secret/#

    user reader
    topic read sensors/+/temperature
    topic write commands
    topic sensors/raw

    pattern readwrite devices/%u/#
    pattern write clients/%c/status
    pattern deny devices/%u/locked
    """

private func access(_ username: String?, _ clientID: String = "client-1") throws -> ClientAccess {
    ClientAccess(acl: try AccessControlList.parse(text: deviceACL, file: "acl"), username: username, clientIdentifier: clientID)
}

@Suite("ACL decisions (Mosquitto semantics)")
struct AccessControlListTests {
    @Test("parse: sections, default access readwrite, patterns anywhere")
    func parse() throws {
        let acl = try AccessControlList.parse(text: deviceACL, file: "acl")
        #expect(acl.anonymousRules == [.init(.read, "public/#"), .init(.read, "$SYS/broker/uptime")])
        #expect(
            acl.userRules["reader"] == [
                .init(.read, "sensors/+/temperature"), .init(.write, "commands"), .init(.readwrite, "sensors/raw"),
            ])
        #expect(acl.patterns.count == 3)
        #expect(acl.patterns[0] == .init(.readwrite, "devices/%u/#"))
    }

    @Test(
        "parse errors name file and line",
        arguments: [
            ("topic", "acl:1: topic: missing topic"),
            ("user", "acl:1: user: missing username"),
            ("topic read", "acl:1: topic: missing topic"),
            ("topic read a/#/b", "acl:1: topic: 'a/#/b' is not a valid topic filter"),
            ("\n\ntopics read a", "acl:3: unknown line 'topics' (expected user, topic or pattern)"),
        ]
    )
    func parseErrors(text: String, message: String) {
        do {
            _ = try AccessControlList.parse(text: text, file: "acl")
            Issue.record("no error for \(text)")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test("a user's rules: read, write, readwrite, and nothing else")
    func userRules() throws {
        let reader = try access("reader")
        #expect(reader.allows(.read, topic: "sensors/kitchen/temperature"))
        #expect(!reader.allows(.write, topic: "sensors/kitchen/temperature"))
        #expect(reader.allows(.write, topic: "commands"))
        #expect(!reader.allows(.read, topic: "commands"))
        #expect(reader.allows(.read, topic: "sensors/raw") && reader.allows(.write, topic: "sensors/raw"))
        #expect(!reader.allows(.read, topic: "sensors/kitchen/humidity"))
        #expect(!reader.allows(.read, topic: "public/news"), "the anonymous section is not for named users")
    }

    @Test("deny wins over a grant in the same section; # does not match $SYS")
    func denyAndDollar() throws {
        let admin = try access("admin")
        #expect(admin.allows(.write, topic: "anything/at/all"))
        #expect(!admin.allows(.read, topic: "secret/plans"))
        #expect(!admin.allows(.write, topic: "secret"))
        #expect(admin.allows(.read, topic: "$SYS/broker/clients/connected"), "granted by $SYS/#")
        #expect(!admin.allows(.write, topic: "$SYS/broker/clients/connected"), "# does not reach $ topics")
    }

    @Test("the anonymous section applies to clients without a username; %u patterns do not")
    func anonymous() throws {
        let anonymous = try access(nil, "dev-x")
        #expect(anonymous.allows(.read, topic: "public/news"))
        #expect(anonymous.allows(.read, topic: "$SYS/broker/uptime"))
        #expect(!anonymous.allows(.read, topic: "$SYS/broker/version"))
        #expect(!anonymous.allows(.write, topic: "public/news"))
        #expect(!anonymous.allows(.write, topic: "devices//x"), "%u pattern must not match an empty username")
        #expect(anonymous.allows(.write, topic: "clients/dev-x/status"), "%c patterns still apply")
    }

    @Test("%u and %c give each device its own tree, and a pattern deny applies")
    func patterns() throws {
        let a = try access("dev-a", "client-a")
        #expect(a.allows(.write, topic: "devices/dev-a/telemetry"))
        #expect(a.allows(.read, topic: "devices/dev-a/commands/reboot"))
        #expect(a.allows(.read, topic: "devices/dev-a"))
        #expect(!a.allows(.read, topic: "devices/dev-b/telemetry"))
        #expect(!a.allows(.write, topic: "devices/dev-b/telemetry"))
        #expect(a.allows(.write, topic: "clients/client-a/status"))
        #expect(!a.allows(.read, topic: "clients/client-a/status"))
        #expect(!a.allows(.write, topic: "clients/client-b/status"))
        #expect(!a.allows(.write, topic: "devices/dev-a/locked"))
    }

    @Test("a username or client id with + or # gets nothing from patterns")
    func dangerousIdentity() throws {
        #expect(!(try access("+", "c")).allows(.read, topic: "devices/+/x"))
        #expect(!(try access("dev-a", "c#")).allows(.read, topic: "devices/dev-a/x"))
        // Its own user section still applies (mosquitto checks it first).
        #expect(try access("admin", "evil#").allows(.write, topic: "x"))
    }

    @Test("the user's section decides before the patterns: its grant beats a pattern deny (as mosquitto 2.0.11 answers)")
    func sectionOrder() throws {
        let acl = try AccessControlList.parse(
            text: "user alice\ntopic readwrite x/#\ntopic deny x/secret\npattern deny x/%u\npattern readwrite y/%u\n", file: "acl")
        let alice = ClientAccess(acl: acl, username: "alice", clientIdentifier: "c")
        #expect(alice.allows(.write, topic: "x/a"))
        #expect(!alice.allows(.write, topic: "x/secret"))
        #expect(alice.allows(.write, topic: "x/alice"))
        #expect(alice.allows(.write, topic: "y/alice"))
        #expect(!alice.allows(.write, topic: "y/bob"))
    }

    @Test("%c and %u are replaced anywhere in a pattern, as mosquitto does")
    func substitutionInsideLevel() {
        let acl = AccessControlList(patterns: [.init(.readwrite, "x%u-%c/#")])
        let client = ClientAccess(acl: acl, username: "u1", clientIdentifier: "c1")
        #expect(client.allows(.write, topic: "xu1-c1/t"))
        #expect(!client.allows(.write, topic: "xu2-c1/t"))
    }

    @Test("an empty ACL denies everything (deny by default)")
    func emptyDenies() {
        let client = ClientAccess(acl: AccessControlList(), username: "u", clientIdentifier: "c")
        #expect(!client.allows(.read, topic: "a"))
        #expect(!client.allows(.write, topic: "a"))
        #expect(!client.allowsSubscription(to: "a"))
    }

    @Test(
        "subscriptions: granted only when a read rule covers the whole filter",
        arguments: [
            ("devices/dev-a/#", true),
            ("devices/dev-a/+/x", true),
            ("devices/dev-a", true),
            ("devices/+/telemetry", false),
            ("devices/#", false),
            ("#", false),
            ("+/dev-a/x", false),
            ("devices/dev-b/#", false),
            ("$share/group/devices/dev-a/#", true),
            ("$share/group/devices/dev-b/#", false),
            ("clients/client-a/status", false),  // write only
        ]
    )
    func subscriptions(filter: String, granted: Bool) throws {
        #expect(try access("dev-a", "client-a").allowsSubscription(to: filter) == granted)
    }

    @Test("subscriptions: # covers everything but $ topics; a covering deny refuses, an overlapping one does not")
    func subscriptionDenyAndDollar() throws {
        let admin = try access("admin")
        #expect(admin.allowsSubscription(to: "#"))
        #expect(admin.allowsSubscription(to: "+/x"))
        #expect(admin.allowsSubscription(to: "$SYS/#"))
        #expect(!admin.allowsSubscription(to: "secret/#"))
        #expect(!admin.allowsSubscription(to: "secret/plans"))
        let reader = try access("reader")
        #expect(reader.allowsSubscription(to: "sensors/+/temperature"))
        #expect(reader.allowsSubscription(to: "sensors/kitchen/temperature"))
        #expect(!reader.allowsSubscription(to: "sensors/#"))
        #expect(!reader.allowsSubscription(to: "$SYS/#"))
        #expect(
            !ClientAccess(acl: AccessControlList(anonymousRules: [.init(.read, "#")]), username: nil, clientIdentifier: "c")
                .allowsSubscription(to: "$SYS/broker/uptime"))
    }

    @Test("the decision cache answers as the uncached check does, also past its capacity")
    func cache() throws {
        var cached = CachedClientAccess(try access("dev-a", "client-a"))
        for round in 0..<2 {
            for index in 0..<(CachedClientAccess.capacity + 10) {
                let mine = "devices/dev-a/\(index)", other = "devices/dev-b/\(index)"
                let readMine = cached.allows(.read, topic: mine)
                let readOther = cached.allows(.read, topic: other)
                let writeMine = cached.allows(.write, topic: mine)
                #expect(readMine && !readOther && writeMine, "round \(round), topic \(index)")
            }
        }
    }

    @Test("CVE-2017-7650: under patterns, a username or client id with +, # or / gets nothing from a pattern")
    func wildcardIdentitiesGetNoPatternRights() throws {
        let acl = try AccessControlList.parse(
            text: "pattern readwrite devices/%u/#\npattern readwrite clients/%c/#\nuser dev-a\ntopic read alive/#\n", file: "acl")
        for (username, clientID) in [("dev-a", "+"), ("dev-a", "#"), ("dev-a", "dev-b/x"), ("+", "c"), ("#", "c"), ("dev-b/x", "c")] {
            let access = ClientAccess(acl: acl, username: username, clientIdentifier: clientID)
            #expect(!access.allows(.read, topic: "devices/dev-b/secret"), "\(username) \(clientID)")
            #expect(!access.allows(.read, topic: "clients/dev-b/x/secret"), "\(username) \(clientID)")
            #expect(!access.allowsSubscription(to: "devices/+/#"), "\(username) \(clientID)")
        }
        // Their own user rules still apply, and an ordinary identity keeps its pattern rights.
        #expect(ClientAccess(acl: acl, username: "dev-a", clientIdentifier: "+").allows(.read, topic: "alive/x"))
        #expect(ClientAccess(acl: acl, username: "dev-a", clientIdentifier: "c1").allows(.read, topic: "devices/dev-a/x"))
        #expect(ClientAccess(acl: acl, username: "dev-a", clientIdentifier: "c1").allows(.write, topic: "clients/c1/x"))
    }
}
