extension Directive {
    /// `log_type`, `log_dest` and `connection_messages`.
    ///
    /// As in mosquitto, the first `log_type` (or `log_dest`) line replaces the default and
    /// each later one adds a value; `none` clears the list and `all` selects every type.
    static let logging: [Directive] = [
        .global("log_type") { state, line in
            enum Selection { case type(LogType), none, all }
            let choices = LogType.allCases.map { ($0.rawValue, Selection.type($0)) } + [("none", .none), ("all", .all)]
            let selection = try line.choice(choices)
            if !state.logTypesGiven {
                state.logTypesGiven = true
                state.configuration.logTypes = []
            }
            switch selection {
            case .type(let type): state.configuration.logTypes.insert(type)
            case .none: state.configuration.logTypes = []
            case .all: state.configuration.logTypes = Set(LogType.allCases)
            }
        },
        .global("log_dest") { state, line in
            let choices: [(String, LogDestination?)] = [
                ("stderr", .stderr), ("stdout", .stdout), ("syslog", .syslog), ("topic", .topic), ("file", nil),
                ("none", LogDestination.none),
            ]
            let destination = try line.choice(choices) ?? .file(try line.rest("file path"))
            if !state.logDestinationsGiven {
                state.logDestinationsGiven = true
                state.configuration.logDestinations = []
            }
            var destinations = state.configuration.logDestinations
            if destination == .none {
                destinations = [.none]
            } else if !destinations.contains(destination) {
                if destination.isFile, destinations.contains(where: \.isFile) {
                    throw line.error("only one 'file' destination is allowed")
                }
                destinations.removeAll { $0 == .none }
                destinations.append(destination)
            }
            state.configuration.logDestinations = destinations
        },
        .boolean("connection_messages", \.connectionMessages),
    ]
}

extension LogDestination {
    var isFile: Bool {
        if case .file = self { true } else { false }
    }
}
