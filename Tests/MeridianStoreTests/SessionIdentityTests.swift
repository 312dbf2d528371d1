@testable import MeridianStore
import Testing

/// Who a session's client was survives a restart, so the ACL applies to a restored session before
/// its client reconnects (schema version 2).
@Suite struct SessionIdentityTests {
    @Test("client with and without a username, the broker's own, and unknown round-trip")
    func roundTrip() async throws {
        let dir = TemporaryDirectory()
        let (store, _) = try openStore(dir)
        var withName = session("named")
        withName.identity = .client(username: "dev-a")
        var anonymous = session("anonymous")
        anonymous.identity = .client(username: nil)
        var trusted = session("trusted")
        trusted.identity = .trusted
        try await store.commitAndWait([
            .upsertSession(withName), .upsertSession(anonymous), .upsertSession(trusted), .upsertSession(session("unknown")),
        ])
        store.close()
        let state = try recover(dir)
        #expect(state.session("named")?.session.identity == .client(username: "dev-a"))
        #expect(state.session("anonymous")?.session.identity == .client(username: nil))
        #expect(state.session("trusted")?.session.identity == .trusted)
        #expect(state.session("unknown")?.session.identity == nil)
    }
}

@Suite struct SchemaMigrationTests {
    @Test("a version 1 file is migrated: its sessions come back with an unknown identity, new ones store theirs")
    func fromVersion1() async throws {
        let dir = TemporaryDirectory()
        do {
            let database = try SQLiteDatabase(path: dir.path + "/meridian.db")
            try database.execute(Schema.migrations[0])
            try database.execute("PRAGMA user_version = 1")
            try database.execute(
                "INSERT INTO sessions (client_id, expiry, protocol_version, disconnected_at) VALUES ('old', 3600, 5, NULL)")
        }
        let (store, state) = try openStore(dir)
        #expect(state.session("old")?.session.identity == nil)
        var new = session("new")
        new.identity = .client(username: "dev-b")
        try await store.commitAndWait([.upsertSession(new)])
        store.close()
        let reopened = try recover(dir)
        #expect(reopened.session("old") != nil)
        #expect(reopened.session("new")?.session.identity == .client(username: "dev-b"))
    }
}
