import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// The client's verified certificate, sent down the pipeline as a user event once the handshake
/// completed (before any MQTT byte can arrive); not sent when the client presented none.
struct CertificateUsernameEvent {
    /// The name the listener's `use_identity_as_username` / `use_subject_as_username` takes from
    /// it; `nil` without such an option, or when the certificate has no usable name.
    var username: String?
}

/// Sits behind `NIOSSLServerHandler`: logs a failed handshake with the peer's address (the
/// connection is closed; others are untouched) and, on listeners with `use_identity_as_username`
/// or `use_subject_as_username`, turns the peer certificate into a ``CertificateUsernameEvent``.
final class TLSIdentityHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let source: ListenerTLSSettings.CertificateUsername
    private let logger: Logger
    private var handshakeDone = false

    init(source: ListenerTLSSettings.CertificateUsername, logger: Logger) {
        self.source = source
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            handshakeDone = true
            if let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate {
                context.fireUserInboundEventTriggered(CertificateUsernameEvent(username: username(of: certificate)))
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !handshakeDone else { return context.fireErrorCaught(error) }
        let peer = context.channel.remoteAddress.map { "\($0)" } ?? "unknown"
        logger.notice("TLS handshake failed, closing", metadata: ["peer": "\(peer)", "error": "\(error)"])
        context.close(promise: nil)
    }

    /// The username the listener's option takes from a certificate. Like mosquitto, a common
    /// name with an embedded NUL is no username.
    private func username(of certificate: NIOSSLCertificate) -> String? {
        guard let fields = CertificateNames.fields(of: certificate) else { return nil }
        switch source {
        case .none: return nil
        case .commonName: return CertificateNames.usable(fields.commonName)
        case .subject: return CertificateNames.usable(fields.subjectString)
        }
    }
}

@available(*, unavailable)
extension TLSIdentityHandler: Sendable {}

/// Names read from certificates, for components beside the broker (inter-node links).
public enum CertificateNames {
    /// The first common name of the certificate's subject; nil when it has none, or one with a NUL.
    public static func commonName(of certificate: NIOSSLCertificate) -> String? {
        usable(fields(of: certificate)?.commonName)
    }

    static func fields(of certificate: NIOSSLCertificate) -> CertificateFields? {
        guard let der = try? certificate.toDERBytes() else { return nil }
        return try? CertificateFields(der: der)
    }

    /// A name a certificate gives, if it can name anyone: not empty, no embedded NUL.
    static func usable(_ name: String?) -> String? {
        guard let name, !name.isEmpty, !name.utf8.contains(0) else { return nil }
        return name
    }
}
