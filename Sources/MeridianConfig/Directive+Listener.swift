extension Directive {
    /// `listener`, the deprecated `port`, and the options of one listener.
    static let listeners: [Directive] = [
        .global("listener") { state, line in
            let port = try line.integer("port", in: 1...65535)
            let address = line.optionalValue().map(String.init)
            try state.setListener(.init(port: port, bindAddress: address), line: line)
        },
        // Deprecated in mosquitto: the port of the default listener, on all interfaces.
        // A second `port` line changes that listener's port rather than adding one.
        .global("port") { state, line in
            let port = try line.integer(in: 1...65535)
            var listener = state.portListener.map { state.configuration.listeners[$0] } ?? .init(port: port)
            listener.port = port
            state.portListener = try state.setListener(listener, at: state.portListener, line: line)
        },
        .listener("max_connections") { listener, line in
            let limit = try line.integer(in: Int(Int32.min)...intMax, note: "-1 means no limit")
            listener.maxConnections = max(limit, -1)
        },
        // Meridian addition: connections at once from one source address; -1 means no limit.
        .listener("max_connections_per_address") { listener, line in
            let limit = try line.integer(in: Int(Int32.min)...intMax, note: "-1 means no limit")
            listener.maxConnectionsPerAddress = max(limit, -1)
        },
        .listener("protocol") { _, line in
            let name = try line.value()
            guard name == "mqtt" else { throw line.failure("protocol \(name) is not supported") }
        },
        .listener("socket_domain") { listener, line in
            let domains = EdgeConfiguration.Listener.SocketDomain.allCases
            listener.socketDomain = try line.choice(domains.map { ($0.rawValue, $0) })
        },
        .listener("bind_interface") { listener, line in
            listener.bindInterface = String(try line.value("interface name"))
        },
    ]
}
