import MeridianConfig
import Testing

@Suite("persistent_client_expiration durations")
struct DurationTests {
    @Test("units as in mosquitto: month = 30 days, year = 365 days", arguments: [
        ("1s", 1),
        ("90s", 90),
        ("2h", 2 * 3600),
        ("1d", 86400),
        ("14d", 14 * 86400),
        ("1w", 7 * 86400),
        ("1m", 30 * 86400),
        ("2m", 60 * 86400),
        ("1y", 365 * 86400),
        ("010d", 10 * 86400),
    ])
    func duration(text: String, seconds: Int) throws {
        let parsed = try parse("persistent_client_expiration \(text)")
        #expect(parsed.persistentClientExpiration == seconds)
    }

    @Test("not a duration", arguments: ["10", "0d", "-1d", "+1d", "1x", "d", "1.5d", "1D", "99999999999999999y"])
    func invalid(text: String) {
        #expect(
            parseError("persistent_client_expiration \(text)")
                == "edge.conf:1: persistent_client_expiration: '\(text)' is not a duration"
                + " (a positive number followed by s, h, d, w, m or y, e.g. 14d)"
        )
    }
}
