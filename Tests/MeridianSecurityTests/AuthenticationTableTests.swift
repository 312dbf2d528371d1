import MeridianMQTT
import MeridianSecurity
import Testing

/// Every row of the authentication table (README, "Security"): the listener's settings and what
/// the client presented in, the verdict and its CONNACK codes out. The expected column was measured
/// on Mosquitto 2.0.11 with the same settings; the one deliberate difference (0x86 rather than 0x87
/// for a wrong password or an unknown user in MQTT 5) is the `v5` column of those rows.
@Suite("Authentication table")
struct AuthenticationTableTests {
    /// `mosquitto_passwd -b -c pw alice secret1` (2.0.11).
    static let passwords = try! PasswordFile.parse(
        text: "alice:$7$101$E0EvT4BdYjznlKVQ$3eQzOjICLfL9Zbno8vdVnASzr8fxZtILCtoquo0lMSB7xsk3oMdNWxHRJG/19KPrXn3OJKXGtgc1bT898OuJqg==",
        file: "pw")

    enum Anonymous: String, CaseIterable { case allowed = "true", refused = "false", unset }
    enum Client: String, CaseIterable {
        case none = "no username", right = "alice, right password", wrong = "alice, wrong password"
        case missing = "alice, no password", unknown = "unknown user"
        var presented: Authentication.Presented {
            switch self {
            case .none: return .init(username: nil, password: nil)
            case .right: return .init(username: "alice", password: Array("secret1".utf8))
            case .wrong: return .init(username: "alice", password: Array("wrong".utf8))
            case .missing: return .init(username: "alice", password: nil)
            case .unknown: return .init(username: "mallory", password: Array("x".utf8))
            }
        }
    }

    /// What a row expects: accepted (with the username the session gets) or refused (3.1.1 / 5.0 codes).
    enum Expected: Equatable {
        case accepted(String?)
        case refused(UInt8, UInt8)
    }

    /// allow_anonymous × password_file × client, as Mosquitto 2.0.11 answered each (v5 0x86: Meridian).
    static let plainRows: [(Anonymous, Bool, Client, Expected)] = [
        (.allowed, false, .none, .accepted(nil)),
        (.allowed, false, .right, .accepted("alice")),
        (.allowed, false, .wrong, .accepted("alice")),
        (.allowed, false, .missing, .accepted("alice")),
        (.allowed, false, .unknown, .accepted("mallory")),
        (.allowed, true, .none, .accepted(nil)),
        (.allowed, true, .right, .accepted("alice")),
        (.allowed, true, .wrong, .refused(5, 0x86)),
        (.allowed, true, .missing, .refused(5, 0x86)),
        (.allowed, true, .unknown, .refused(5, 0x86)),
        (.refused, false, .none, .refused(5, 0x87)),
        (.refused, false, .right, .refused(5, 0x87)),
        (.refused, false, .wrong, .refused(5, 0x87)),
        (.refused, false, .missing, .refused(5, 0x87)),
        (.refused, false, .unknown, .refused(5, 0x87)),
        (.refused, true, .none, .refused(5, 0x87)),
        (.refused, true, .right, .accepted("alice")),
        (.refused, true, .wrong, .refused(5, 0x86)),
        (.refused, true, .missing, .refused(5, 0x86)),
        (.refused, true, .unknown, .refused(5, 0x86)),
        (.unset, false, .none, .refused(5, 0x87)),
        (.unset, false, .right, .refused(5, 0x87)),
        (.unset, false, .wrong, .refused(5, 0x87)),
        (.unset, false, .missing, .refused(5, 0x87)),
        (.unset, false, .unknown, .refused(5, 0x87)),
        (.unset, true, .none, .refused(5, 0x87)),
        (.unset, true, .right, .accepted("alice")),
        (.unset, true, .wrong, .refused(5, 0x86)),
        (.unset, true, .missing, .refused(5, 0x86)),
        (.unset, true, .unknown, .refused(5, 0x86)),
    ]

    static func verdict(_ listener: Authentication.Listener, _ presented: Authentication.Presented) -> Expected {
        switch Authentication.decide(listener, presented) {
        case .accepted(let credential):
            return .accepted(credential.username)
        case .refused(let refusal):
            return .refused(refusal.connackCode(for: .v3_1_1).rawValue, refusal.connackCode(for: .v5).rawValue)
        }
    }

    @Test("allow_anonymous × password_file × username × password", arguments: plainRows.indices)
    func plainListener(row: Int) {
        let (anonymous, hasFile, client, expected) = Self.plainRows[row]
        // An absent allow_anonymous line is false, the configuration's default (EdgeConfigurationDefaultsTests).
        let listener = Authentication.Listener(allowAnonymous: anonymous == .allowed, passwords: hasFile ? Self.passwords : nil)
        #expect(Self.verdict(listener, client.presented) == expected,
                "allow_anonymous \(anonymous.rawValue), password file \(hasFile), \(client.rawValue)")
    }

    @Test("every combination of the plain table has a row")
    func plainTableIsComplete() {
        #expect(Self.plainRows.count == Anonymous.allCases.count * 2 * Client.allCases.count)
        for anonymous in Anonymous.allCases {
            for file in [false, true] {
                for client in Client.allCases {
                    #expect(Self.plainRows.contains { $0.0 == anonymous && $0.1 == file && $0.2 == client })
                }
            }
        }
    }

    enum TLSListener: String, CaseIterable {
        case optional = "TLS, require_certificate false"
        case required = "TLS, require_certificate true"
        case identity = "require_certificate true, use_identity_as_username true"
        case subject = "require_certificate true, use_subject_as_username true"
        case identityOptional = "use_identity_as_username true, require_certificate false"
    }

    enum TLSClient: String, CaseIterable {
        case certificate = "certificate, no username"
        case certificateWrongPassword = "certificate, alice with a wrong password"
        case certificateRightPassword = "certificate, alice with the right password"
        case certificateWithoutName = "certificate without a usable name"
        case noCertificate = "no certificate, alice with the right password"
    }

    /// The name the TLS layer takes from the test certificate (CN=alice, O=Example) under `listener`.
    /// Without require_certificate the TLS layer asks for no client certificate (Mosquitto neither),
    /// so no client has one there.
    static func presented(_ client: TLSClient, on listener: TLSListener) -> Authentication.Presented {
        if listener == .optional || listener == .identityOptional {
            var presented = presented(client, on: .required)
            presented.hasCertificate = false
            presented.certificateName = nil
            return presented
        }
        let name: String? = switch listener {
        case .identity, .identityOptional: "alice"
        case .subject: "CN=alice,O=Example"
        case .optional, .required: nil
        }
        switch client {
        case .certificate: return .init(username: nil, password: nil, hasCertificate: true, certificateName: name)
        case .certificateWrongPassword:
            return .init(username: "alice", password: Array("wrong".utf8), hasCertificate: true, certificateName: name)
        case .certificateRightPassword:
            return .init(username: "alice", password: Array("secret1".utf8), hasCertificate: true, certificateName: name)
        case .certificateWithoutName: return .init(username: nil, password: nil, hasCertificate: true, certificateName: nil)
        case .noCertificate: return .init(username: "alice", password: Array("secret1".utf8))
        }
    }

    /// TLS listeners with allow_anonymous false and a password file. Mosquitto's handshake refuses
    /// a client without a certificate under require_certificate before any CONNACK; the decision
    /// refuses it again (5 / 0x87) should one get that far.
    static let tlsRows: [(TLSListener, TLSClient, Expected)] = [
        (.optional, .certificate, .refused(5, 0x87)),
        (.optional, .certificateWrongPassword, .refused(5, 0x86)),
        (.optional, .certificateRightPassword, .accepted("alice")),
        (.optional, .certificateWithoutName, .refused(5, 0x87)),
        (.optional, .noCertificate, .accepted("alice")),
        (.required, .certificate, .refused(5, 0x87)),
        (.required, .certificateWrongPassword, .refused(5, 0x86)),
        (.required, .certificateRightPassword, .accepted("alice")),
        (.required, .certificateWithoutName, .refused(5, 0x87)),
        (.required, .noCertificate, .refused(5, 0x87)),
        (.identity, .certificate, .accepted("alice")),
        (.identity, .certificateWrongPassword, .accepted("alice")),
        (.identity, .certificateRightPassword, .accepted("alice")),
        (.identity, .certificateWithoutName, .refused(4, 0x86)),
        (.identity, .noCertificate, .refused(5, 0x87)),
        (.subject, .certificate, .accepted("CN=alice,O=Example")),
        (.subject, .certificateWrongPassword, .accepted("CN=alice,O=Example")),
        (.subject, .certificateRightPassword, .accepted("CN=alice,O=Example")),
        (.subject, .certificateWithoutName, .refused(4, 0x86)),
        (.subject, .noCertificate, .refused(5, 0x87)),
        (.identityOptional, .certificate, .refused(4, 0x86)),
        (.identityOptional, .certificateWrongPassword, .refused(4, 0x86)),
        (.identityOptional, .certificateRightPassword, .refused(4, 0x86)),
        (.identityOptional, .certificateWithoutName, .refused(4, 0x86)),
        (.identityOptional, .noCertificate, .refused(4, 0x86)),
    ]

    @Test("TLS listeners: require_certificate, use_identity_as_username, use_subject_as_username", arguments: tlsRows.indices)
    func tlsListener(row: Int) {
        let (kind, client, expected) = Self.tlsRows[row]
        let listener = Authentication.Listener(
            allowAnonymous: false, passwords: Self.passwords,
            requireCertificate: kind == .required || kind == .identity || kind == .subject,
            certificateIdentity: kind == .identity || kind == .subject || kind == .identityOptional)
        #expect(Self.verdict(listener, Self.presented(client, on: kind)) == expected, "\(kind.rawValue), \(client.rawValue)")
    }

    @Test("the certificate is the credential whatever allow_anonymous and the password file say")
    func certificateIdentityIgnoresOtherSettings() {
        for allowAnonymous in [false, true] {
            for passwords in [nil, Self.passwords] {
                let listener = Authentication.Listener(
                    allowAnonymous: allowAnonymous, passwords: passwords, requireCertificate: true, certificateIdentity: true)
                #expect(listener.admitsAnyone)
                let presented = Authentication.Presented(
                    username: "mallory", password: nil, hasCertificate: true, certificateName: "alice")
                #expect(Authentication.decide(listener, presented) == .accepted(.certificate(username: "alice")))
            }
        }
    }

    @Test("a listener with allow_anonymous false, no password file and no certificate identity admits nobody")
    func listenerThatAdmitsNobody() {
        #expect(!Authentication.Listener(allowAnonymous: false, passwords: nil).admitsAnyone)
        #expect(!Authentication.Listener(allowAnonymous: false, passwords: nil, requireCertificate: true).admitsAnyone)
        #expect(!Authentication.Listener(allowAnonymous: true, passwords: Self.passwords, certificateIdentity: true).admitsAnyone,
                "use_identity_as_username without require_certificate: no client has a certificate name")
        #expect(Authentication.Listener(allowAnonymous: true, passwords: nil).admitsAnyone)
        #expect(Authentication.Listener(allowAnonymous: false, passwords: Self.passwords).admitsAnyone)
    }

    @Test("a reload keeps a client only while its credential would still let it in")
    func reloadRecheck() throws {
        let entry = try #require(Self.passwords.entries["alice"])
        let changed = try PasswordFile.parse(
            text: "alice:$6$Pkt0Sdwxal2XQoLJ$XHi28phsWIQvuAU+fbc5JuHXTC5wvrKbfQH8+sk3J5kAK9QzWGBz/XfRfjuHq5Q2nV/7+daG0yO/TWI/WEbYVw==",
            file: "pw")
        let password = Authentication.Credential.password(username: "alice", entry: entry)
        let same = Authentication.Listener(allowAnonymous: false, passwords: Self.passwords)
        #expect(Authentication.stillAdmitted(password, under: same))
        #expect(!Authentication.stillAdmitted(password, under: .init(allowAnonymous: false, passwords: changed)), "password changed")
        #expect(!Authentication.stillAdmitted(password, under: .init(allowAnonymous: false, passwords: PasswordFile())), "user removed")
        #expect(!Authentication.stillAdmitted(password, under: .init(allowAnonymous: true, passwords: nil)), "file dropped")
        #expect(Authentication.stillAdmitted(.anonymous, under: .init(allowAnonymous: true, passwords: Self.passwords)))
        #expect(!Authentication.stillAdmitted(.anonymous, under: same), "allow_anonymous turned off")
        #expect(Authentication.stillAdmitted(.claimed(username: "x"), under: .init(allowAnonymous: true, passwords: nil)))
        #expect(!Authentication.stillAdmitted(.claimed(username: "x"), under: .init(allowAnonymous: true, passwords: Self.passwords)))
        #expect(!Authentication.stillAdmitted(.claimed(username: "x"), under: .init(allowAnonymous: false, passwords: nil)))
        let certificate = Authentication.Listener(allowAnonymous: false, passwords: nil, requireCertificate: true, certificateIdentity: true)
        #expect(Authentication.stillAdmitted(.certificate(username: "alice"), under: certificate))
    }
}
