extension EdgeConfiguration {
    /// One `listener <port> [<bind address>]` line and the listener options that follow it.
    ///
    /// Listener options (`max_connections`, `protocol`, `socket_domain`, `bind_interface`)
    /// apply to the most recent `listener` (or `port`) line of the same file. Unlike
    /// mosquitto, which applies them to an implicit default listener, Meridian rejects
    /// them when no listener precedes them, so that an option never lands on a listener
    /// the operator did not write.
    public struct Listener: Equatable, Sendable {
        /// The address family a listener binds to (`socket_domain`).
        public enum SocketDomain: String, Equatable, Sendable, CaseIterable {
            case ipv4
            case ipv6
        }

        /// The TCP port, 1...65535.
        public var port: Int

        /// The address or host name to bind to; `nil` means all interfaces.
        public var bindAddress: String?

        /// `max_connections`: the most clients connected at once; -1 (default) means no
        /// limit. Any negative value in the file reads as -1, as in mosquitto.
        public var maxConnections: Int

        /// `max_connections_per_address` (Meridian addition): the most clients connected at once
        /// from one source IP address; -1 (default) means no limit. Keeps one compromised or
        /// misbehaving host from taking every slot of `max_connections`.
        public var maxConnectionsPerAddress: Int

        /// `socket_domain`: bind to IPv4 or IPv6 only; `nil` (default) means both.
        public var socketDomain: SocketDomain?

        /// `bind_interface`: the network interface to bind to (Linux `SO_BINDTODEVICE`);
        /// `nil` (default) means any.
        public var bindInterface: String?

        /// TLS options (`certfile`, `keyfile`, `cafile`, …); a listener without a certificate is plain TCP.
        public var tls = TLS()

        public init(
            port: Int,
            bindAddress: String? = nil,
            maxConnections: Int = -1,
            maxConnectionsPerAddress: Int = -1,
            socketDomain: SocketDomain? = nil,
            bindInterface: String? = nil
        ) {
            self.port = port
            self.bindAddress = bindAddress
            self.maxConnections = maxConnections
            self.maxConnectionsPerAddress = maxConnectionsPerAddress
            self.socketDomain = socketDomain
            self.bindInterface = bindInterface
        }
    }
}
