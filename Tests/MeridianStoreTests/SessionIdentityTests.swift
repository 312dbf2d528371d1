import MeridianStore
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
