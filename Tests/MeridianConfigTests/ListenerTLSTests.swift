import MeridianConfig
import Testing

@Suite("TLS listener options")
struct ListenerTLSTests {
    static let base = "listener 8883\ncertfile /etc/meridian/server.crt\nkeyfile /etc/meridian/server.key"

    /// The configuration of `base` plus `change` on its TLS options.
    static func expected(_ change: (inout Listener.TLS) -> Void = { _ in }) -> EdgeConfiguration {
        configuration {
            var listener = Listener(port: 8883)
            listener.tls.certfile = "/etc/meridian/server.crt"
            listener.tls.keyfile = "/etc/meridian/server.key"
            change(&listener.tls)
            $0.listeners = [listener]
        }
    }

    @Test("each option, after certfile and keyfile")
    func eachOption() throws {
        let cases: [(String, (inout Listener.TLS) -> Void)] = [
            ("", { _ in }),
            ("cafile /etc/meridian/ca.crt", { $0.cafile = "/etc/meridian/ca.crt" }),
            ("capath /etc/meridian/ca dir/", { $0.capath = "/etc/meridian/ca dir/" }),
            ("crlfile /etc/meridian/revoked.crl", { $0.crlfile = "/etc/meridian/revoked.crl" }),
            ("tls_version tlsv1.2", { $0.minimumVersion = .tlsv1_2 }),
            ("tls_version tlsv1.3", { $0.minimumVersion = .tlsv1_3 }),
            ("ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", {
                $0.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
            }),
            ("cafile /ca.crt\nrequire_certificate true", { $0.cafile = "/ca.crt"; $0.requireCertificate = true }),
            ("require_certificate false", { $0.requireCertificate = false }),
            ("use_identity_as_username true", { $0.useIdentityAsUsername = true }),
            ("use_subject_as_username true", { $0.useSubjectAsUsername = true }),
        ]
        for (lines, change) in cases {
            #expect(try parse(Self.base + "\n" + lines) == Self.expected(change), "\(lines)")
        }
    }

    @Test("plain and TLS listeners side by side; options apply to the latest listener")
    func sideBySide() throws {
        let parsed = try parse("listener 1883\n" + Self.base + "\nrequire_certificate true\ncafile /ca.crt\nlistener 1884")
        #expect(parsed.listeners.map(\.port) == [1883, 8883, 1884])
        #expect(parsed.listeners.map(\.tls.isEnabled) == [false, true, false])
        #expect(parsed.listeners[1].tls.requireCertificate)
    }

    @Test("mistakes name the file and line", arguments: [
        BadFile("cafile /ca.crt", "edge.conf:1: cafile: must follow a 'listener' line (listener options apply to the latest listener)"),
        BadFile("listener 8883\ncertfile /s.crt", "edge.conf:1: listener 8883: TLS options need both certfile and keyfile (keyfile is missing)"),
        BadFile("listener 8883\nkeyfile /s.key", "edge.conf:1: listener 8883: TLS options need both certfile and keyfile (certfile is missing)"),
        BadFile("listener 1883\nlistener 8883\ncafile /ca.crt", "edge.conf:2: listener 8883: TLS options need both certfile and keyfile (certfile is missing)"),
        BadFile("listener 8883\nrequire_certificate true", "edge.conf:1: listener 8883: TLS options need both certfile and keyfile (certfile is missing)"),
        BadFile(
            "\(ListenerTLSTests.base)\nrequire_certificate true",
            "edge.conf:1: listener 8883: require_certificate true needs cafile or capath to verify client certificates"
        ),
        BadFile(
            "\(ListenerTLSTests.base)\nuse_identity_as_username true\nuse_subject_as_username true",
            "edge.conf:1: listener 8883: use_identity_as_username and use_subject_as_username cannot both be true"
        ),
        BadFile("\(ListenerTLSTests.base)\ntls_version tlsv1.1", "edge.conf:4: tls_version: tlsv1.1 is not supported (use tlsv1.2 or tlsv1.3)"),
        BadFile("\(ListenerTLSTests.base)\ntls_version tls1.3", "edge.conf:4: tls_version: 'tls1.3' is not one of tlsv1.2, tlsv1.3"),
        BadFile("\(ListenerTLSTests.base)\nrequire_certificate yes", "edge.conf:4: require_certificate: 'yes' is not a boolean (expected true or false)"),
        BadFile("\(ListenerTLSTests.base)\ncertfile", "edge.conf:4: certfile: missing file"),
        BadFile("\(ListenerTLSTests.base)\nciphers a b", "edge.conf:4: ciphers: unexpected extra value 'b'"),
        BadFile(
            "\(ListenerTLSTests.base)\nciphers_tls1.3 TLS_AES_128_GCM_SHA256",
            "edge.conf:4: option 'ciphers_tls1.3' is not supported (the TLS 1.3 cipher suites of BoringSSL are fixed: "
                + "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256; use tls_version and ciphers)"
        ),
        BadFile("\(ListenerTLSTests.base)\ndhparamfile /dh.pem", "edge.conf:4: option 'dhparamfile' is not supported yet"),
    ])
    func mistakes(file: BadFile) {
        #expect(parseError(file.text) == file.error)
    }
}
