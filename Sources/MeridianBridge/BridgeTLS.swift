import Logging
import MeridianBridgeCore
import MeridianBroker
import NIOCore
import NIOSSL
import NIOTLS

/// TLS to a bridge's remote (`bridge_cafile`/`bridge_capath`, `bridge_certfile`/`bridge_keyfile`,
/// `bridge_insecure`, `bridge_tls_version`, `bridge_alpn`), loaded once when the link is made.
///
/// As in mosquitto, TLS is on when `bridge_cafile` or `bridge_capath` is given. The remote's
/// certificate must chain to those CAs and match the address's host name (or IP address);
/// `bridge_insecure true` turns off only the host name check.
struct BridgeTLS: @unchecked Sendable {
    // NIOSSLContext is thread-safe for creating connections.
    let context: NIOSSLContext

    /// The bridge's TLS context, or `nil` when it has no `bridge_cafile`/`bridge_capath`.
    /// - Throws: when a file cannot be read (the error names the option and the file), or when
    ///   TLS options are given without a CA to verify the remote with.
    static func load(_ settings: BridgeSettings) throws -> BridgeTLS? {
        do {
            return try loadFiles(settings)
        } catch {
            throw TLSFiles.Failure("connection \(settings.name): \(error)")
        }
    }

    private static func loadFiles(_ settings: BridgeSettings) throws -> BridgeTLS? {
        guard settings.cafile != nil || settings.capath != nil else {
            let others = [
                settings.certfile.map { _ in "bridge_certfile" }, settings.keyfile.map { _ in "bridge_keyfile" },
                settings.insecure ? "bridge_insecure" : nil, settings.tlsVersion.map { _ in "bridge_tls_version" },
                settings.alpn.map { _ in "bridge_alpn" },
            ].compactMap { $0 }
            if let first = others.first {
                throw TLSFiles.Failure(
                    "\(first) needs bridge_cafile or bridge_capath (TLS to the remote is on only with a CA to verify it)"
                )
            }
            return nil
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        try TLSFiles.setTrustRoots(of: &configuration, cafile: settings.cafile, capath: settings.capath, prefix: "bridge_")
        configuration.certificateVerification = settings.insecure ? .noHostnameVerification : .fullVerification
        configuration.minimumTLSVersion = settings.tlsVersion == "tlsv1.3" ? .tlsv13 : .tlsv12
        if let certfile = settings.certfile, let keyfile = settings.keyfile {
            let chain = try TLSFiles.certificateChain(certfile, option: "bridge_certfile")
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(try TLSFiles.privateKey(keyfile, option: "bridge_keyfile"))
        }
        if let alpn = settings.alpn { configuration.applicationProtocols = [alpn] }
        do {
            return BridgeTLS(context: try NIOSSLContext(configuration: configuration))
        } catch {
            throw TLSFiles.Failure("cannot set up TLS (does bridge_keyfile match bridge_certfile?): \(error)")
        }
    }

    /// Adds the client handler (the handshake runs in the channel, never blocking the loop) and a
    /// logger of handshake failures, such as a remote certificate that does not match `host`.
    func addHandlers(to channel: Channel, host: String, logger: Logger) throws {
        // SNI and the host name check use the name; an IP address is checked against the
        // certificate's IP address entries, and never goes into SNI.
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        let handler = try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.pipeline.syncOperations.addHandler(BridgeTLSHandshakeLogger(host: host, logger: logger))
    }
}

/// Logs why a TLS handshake with the remote failed (certificate verification, host name), which
/// the link otherwise sees only as a closed connection before CONNACK.
final class BridgeTLSHandshakeLogger: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let host: String
    private let logger: Logger
    private var handshakeDone = false

    init(host: String, logger: Logger) {
        self.host = host
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted(let protocolName) = tlsEvent {
            handshakeDone = true
            logger.info("TLS to the remote established", metadata: ["host": "\(host)", "alpn": "\(protocolName ?? "-")"])
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !handshakeDone {
            logger.warning("TLS handshake with the remote failed", metadata: ["host": "\(host)", "error": "\(error)"])
        }
        context.fireErrorCaught(error)
    }
}

@available(*, unavailable)
extension BridgeTLSHandshakeLogger: Sendable {}
