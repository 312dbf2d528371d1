extension Directive {
    /// The operations endpoint (Meridian additions): `http_listener` and `ready_requires_bridge`.
    static let operations: [Directive] = [
        .global("http_listener") { state, line in
            let port = try line.integer("port", in: 1...65535)
            let address = line.optionalValue().map(String.init)
            let clash = state.configuration.listeners.contains { $0.port == port && ($0.bindAddress == nil || address == nil || $0.bindAddress == address) }
            if clash {
                throw line.error("port \(port) is already an MQTT listener")
            }
            state.configuration.httpListener = .init(port: port, bindAddress: address)
        },
        .boolean("ready_requires_bridge", \.readyRequiresBridge),
    ]
}
