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
}
