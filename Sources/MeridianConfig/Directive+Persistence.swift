extension Directive {
    /// The durable store's options.
    static let persistence: [Directive] = [
        .boolean("persistence", \.persistence),
        .text("persistence_location", \.persistenceLocation),
        .integer("persistence_commit_delay", \.persistenceCommitDelay, in: 0...1000, note: "milliseconds"),
        .integer("persistence_min_free", \.persistenceMinFree, in: 0...Int.max, note: "bytes; 0 disables the floor"),
        .global("persistence_sync") { state, line in
            let levels = EdgeConfiguration.PersistenceSync.allCases
            state.configuration.persistenceSync = try line.choice(levels.map { ($0.rawValue, $0) })
        },
        .global("persistent_client_expiration") { state, line in
            let token = try line.value()
            guard let seconds = expirationSeconds(token) else {
                throw line.error(
                    "'\(token)' is not a duration (a positive number followed by s, h, d, w, m or y, e.g. 14d)"
                )
            }
            state.configuration.persistentClientExpiration = seconds
        },
    ]

    /// Seconds per unit of a `persistent_client_expiration` duration: mosquitto's hour,
    /// day, week, month (30 days) and year (365 days), plus seconds as newer mosquitto
    /// versions accept.
    static let expirationUnits: [Character: Int] = [
        "s": 1, "h": 3600, "d": 86400, "w": 7 * 86400, "m": 30 * 86400, "y": 365 * 86400,
    ]

    /// `14d` as seconds; `nil` unless it is a positive decimal number and a unit.
    static func expirationSeconds(_ text: Substring) -> Int? {
        guard let unit = text.last, let unitSeconds = expirationUnits[unit] else { return nil }
        let count = text.dropLast()
        guard !count.isEmpty, count.allSatisfy({ $0.isASCII && $0.isNumber }),
            let number = Int(count), number > 0
        else { return nil }
        let (seconds, overflow) = number.multipliedReportingOverflow(by: unitSeconds)
        return overflow ? nil : seconds
    }
}
