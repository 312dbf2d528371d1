import MeridianBroker
import NIOSSL

/// The TLS of the cluster's own connections (to etcd, between nodes): TLS 1.2 or later, the other
/// end verified against a CA file, and this node's certificate when it has one to present.
enum ClusterTLS {
    /// A certificate and key file, with the option names that errors quote.
    struct Identity {
        var certFile: String
        var certOption: String
        var keyFile: String
        var keyOption: String
    }

    static func configure(
        _ configuration: inout TLSConfiguration, caFile: String, caOption: String, identity: Identity?,
        verification: CertificateVerification
    ) throws {
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = verification
        configuration.trustRoots = .certificates(try TLSFiles.certificateChain(caFile, option: caOption))
        if let identity {
            configuration.certificateChain = try TLSFiles.certificateChain(identity.certFile, option: identity.certOption).map { .certificate($0) }
            configuration.privateKey = .privateKey(try TLSFiles.privateKey(identity.keyFile, option: identity.keyOption))
        }
    }
}
