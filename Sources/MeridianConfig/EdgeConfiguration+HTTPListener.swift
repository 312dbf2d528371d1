extension EdgeConfiguration {
    /// `http_listener <port> [<bind address>]` (Meridian addition): the HTTP port that serves
    /// `GET /metrics` (Prometheus text format), `GET /healthz` and `GET /readyz`.
    public struct HTTPListener: Equatable, Sendable {
        /// The TCP port, 1...65535.
        public var port: Int
        /// The address or host name to bind to; `nil` means all interfaces.
        public var bindAddress: String?

        public init(port: Int, bindAddress: String? = nil) {
            self.port = port
            self.bindAddress = bindAddress
        }
    }
}
