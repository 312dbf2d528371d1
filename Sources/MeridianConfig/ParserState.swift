import MeridianBridgeCore

/// The configuration built so far, plus what a line needs to know about earlier lines.
struct ParserState {
    var configuration = EdgeConfiguration()

    /// Index in `configuration.listeners` of the listener that listener options change:
    /// that of the latest `listener` or `port` line of the file being read. Each file
    /// starts without one, as in mosquitto.
    var currentListener: Int?

    /// Index of the listener made by the deprecated `port` option; a later `port` line
    /// changes its port (mosquitto's default listener).
    var portListener: Int?

    /// Where each listener was defined (`file:line`), for the duplicate error.
    var listenerOrigins: [String] = []

    /// Whether a `log_type` line was read: the first one replaces the defaults, later
    /// ones add to it (mosquitto).
    var logTypesGiven = false

    /// Whether a `log_dest` line was read: the first one replaces the default, later
    /// ones add to it (mosquitto).
    var logDestinationsGiven = false

    /// Index in `configuration.bridges` of the bridge that bridge options change: that of
    /// the latest `connection` line of the file being read. Each file starts without one,
    /// as in mosquitto, and a block ends at the next `connection` line or at the end of
    /// its file.
    var currentBridge: Int?

    /// Where each bridge's `connection` line is, and where each of its options was first
    /// given, parallel to `configuration.bridges`.
    var bridgeOrigins: [BridgeOrigin] = []

    struct BridgeOrigin {
        var file: String
        var line: Int
        /// `file:line` of the first line of each non-repeatable option, by canonical name.
        var options: [String: String] = [:]
        var location: String { "\(file):\(line)" }
    }

    /// Adds a listener, or changes the one at `index`, refusing a second listener on the
    /// same port and bind address. Makes it the current listener.
    @discardableResult
    mutating func setListener(
        _ listener: EdgeConfiguration.Listener,
        at index: Int? = nil,
        line: ConfigLine
    ) throws -> Int {
        let origin = "\(line.file):\(line.number)"
        if let other = configuration.listeners.indices.first(where: {
            $0 != index && configuration.listeners[$0].port == listener.port
                && configuration.listeners[$0].bindAddress == listener.bindAddress
        }) {
            let address = listener.bindAddress.map { "'\($0)'" } ?? "all interfaces"
            throw line.error("port \(listener.port) on \(address) is already a listener (\(listenerOrigins[other]))")
        }
        if let index {
            configuration.listeners[index] = listener
            listenerOrigins[index] = origin
            currentListener = index
        } else {
            configuration.listeners.append(listener)
            listenerOrigins.append(origin)
            currentListener = configuration.listeners.count - 1
        }
        return currentListener!
    }

    // MARK: - Bridges

    /// Starts a bridge block for a `connection <name>` line, ending the current one.
    mutating func startBridge(named name: String, line: ConfigLine) throws {
        try endBridge()
        if let other = configuration.bridges.firstIndex(where: { $0.name == name }) {
            throw line.error("duplicate connection name '\(name)' (first at \(bridgeOrigins[other].location))")
        }
        configuration.bridges.append(BridgeSettings(name: name))
        bridgeOrigins.append(BridgeOrigin(file: line.file, line: line.number))
        currentBridge = configuration.bridges.count - 1
    }

    /// Applies a bridge option to the current bridge.
    ///
    /// - Parameters:
    ///   - key: the option's canonical name (`remote_clientid` for `clientid` too): a
    ///     non-repeatable option given twice in one block is an error.
    ///   - repeatable: whether the option may appear more than once (`topic`).
    mutating func applyToBridge(
        _ line: inout ConfigLine,
        key: String,
        repeatable: Bool,
        _ apply: (inout BridgeSettings, inout ConfigLine) throws -> Void
    ) throws {
        guard let index = currentBridge else {
            throw line.error("must follow a 'connection' line (bridge options apply to the latest connection)")
        }
        if !repeatable {
            if let first = bridgeOrigins[index].options[key] {
                throw line.error("connection '\(configuration.bridges[index].name)' already sets \(key) (\(first))")
            }
            bridgeOrigins[index].options[key] = "\(line.file):\(line.number)"
        }
        try apply(&configuration.bridges[index], &line)
    }

    /// Ends the current bridge block, if any, checking what only the whole block can tell.
    /// Errors point at the block's `connection` line.
    mutating func endBridge() throws {
        guard let index = currentBridge else { return }
        currentBridge = nil
        let bridge = configuration.bridges[index]
        let origin = bridgeOrigins[index]
        func failure(_ message: String) -> ConfigError {
            ConfigError(file: origin.file, line: origin.line, message: "connection: \(message)")
        }
        if bridge.addresses.isEmpty {
            throw failure("bridge '\(bridge.name)' has no 'address' line")
        }
        if bridge.topics.isEmpty {
            throw failure("bridge '\(bridge.name)' has no 'topic' line")
        }
        if (bridge.certfile == nil) != (bridge.keyfile == nil) {
            throw failure("bridge '\(bridge.name)': bridge_certfile and bridge_keyfile must be given together")
        }
    }
}
