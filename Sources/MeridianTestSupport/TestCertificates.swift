import Foundation

/// Certificates for TLS tests, made with the `openssl` command line in a temp directory:
///
/// - `ca`: the test CA (CN "Meridian Test CA"), with a CRL (`crl.pem`) revoking `revoked`, and a
///   hashed CA directory (`caDirectory`);
/// - `server`: for `localhost` and 127.0.0.1 (subject alternative names), signed by `ca`;
/// - `wrongHost`: a server certificate for `other.example` only, signed by `ca`;
/// - `deviceA`, `deviceB`: client certificates with CN `device-a` / `device-b`
///   (subject `/C=DE/O=Meridian Test/CN=device-…`), signed by `ca`;
/// - `expired`: a client certificate (CN `device-expired`) whose validity ended yesterday;
/// - `otherCA` and `foreign`: a second CA and a client certificate (CN `device-foreign`) it signed;
/// - `revoked`: a client certificate (CN `device-revoked`) signed by `ca` and listed in `crl.pem`.
///
/// Keys are P-256 (quick to make) and unencrypted.
public struct TestCertificates: Sendable {
    /// A certificate and its key.
    public struct Pair: Sendable {
        public let certificate: String
        public let key: String
    }

    public let directory: URL
    public let ca: Pair
    /// A directory holding `ca`'s certificate under its subject-hash name (`openssl rehash`), for `capath`.
    public let caDirectory: String
    public let crl: String
    public let server: Pair
    /// For a server that is its own client too (etcd's JSON gateway dials its gRPC side with its
    /// certificate): server and client usage, localhost and 127.0.0.1.
    public let serverAndClient: Pair
    public let wrongHost: Pair
    public let deviceA: Pair
    public let deviceB: Pair
    public let expired: Pair
    public let otherCA: Pair
    public let foreign: Pair
    public let revoked: Pair

    /// Makes every certificate in a new temp directory (a second or so).
    public static func make() async throws -> TestCertificates {
        let directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-certs")
        let maker = Maker(directory: directory)
        let ca = try await maker.authority("ca", subject: "/O=Meridian Test/CN=Meridian Test CA")
        let otherCA = try await maker.authority("other-ca", subject: "/O=Elsewhere/CN=Other Test CA")
        let server = try await maker.leaf(
            "server", subject: "/O=Meridian Test/CN=localhost", issuer: ca, serial: 10,
            extensions: ["subjectAltName=DNS:localhost,IP:127.0.0.1", "extendedKeyUsage=serverAuth"]
        )
        let serverAndClient = try await maker.leaf(
            "server-client", subject: "/O=Meridian Test/CN=localhost", issuer: ca, serial: 12,
            extensions: ["subjectAltName=DNS:localhost,IP:127.0.0.1", "extendedKeyUsage=serverAuth,clientAuth"]
        )
        let wrongHost = try await maker.leaf(
            "wrong-host", subject: "/O=Meridian Test/CN=other.example", issuer: ca, serial: 11,
            extensions: ["subjectAltName=DNS:other.example", "extendedKeyUsage=serverAuth"]
        )
        let client = ["extendedKeyUsage=clientAuth"]
        func device(_ name: String, _ cn: String, serial: Int, issuer: Pair = ca, organization: String = "Meridian Test", days: Int = 30)
            async throws -> Pair
        {
            try await maker.leaf(
                name, subject: "/C=DE/O=\(organization)/CN=\(cn)", issuer: issuer, serial: serial, extensions: client, days: days
            )
        }
        let deviceA = try await device("device-a", "device-a", serial: 20)
        let deviceB = try await device("device-b", "device-b", serial: 21)
        let expired = try await device("expired", "device-expired", serial: 22, days: -1)
        let revoked = try await device("revoked", "device-revoked", serial: 23)
        let foreign = try await device("foreign", "device-foreign", serial: 30, issuer: otherCA, organization: "Elsewhere")
        let crl = try await maker.revocationList(issuer: ca, revoking: revoked)
        let caDirectory = maker.path("ca-dir")
        try FileManager.default.createDirectory(atPath: caDirectory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: ca.certificate, toPath: caDirectory + "/ca.pem")
        try await maker.openssl(["rehash", caDirectory])
        return TestCertificates(
            directory: directory, ca: ca, caDirectory: caDirectory, crl: crl, server: server, serverAndClient: serverAndClient,
            wrongHost: wrongHost, deviceA: deviceA,
            deviceB: deviceB, expired: expired, otherCA: otherCA, foreign: foreign, revoked: revoked
        )
    }

    /// A certificate of an inter-node link (server and client usage) whose common name is `name`
    /// (a node's name), signed by `ca`; `serial` tells the certificates made for one test apart.
    public func node(_ name: String, serial: Int) async throws -> Pair {
        try await Maker(directory: directory).leaf(
            "node-\(serial)", subject: "/O=Meridian Test/CN=\(name)", issuer: ca, serial: 100 + serial,
            extensions: ["extendedKeyUsage=serverAuth,clientAuth"])
    }

    /// Removes the directory.
    public func cleanup() {
        if ProcessInfo.processInfo.environment["MERIDIAN_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// `mosquitto_pub`/`mosquitto_sub` arguments for TLS to a server signed by `ca`, with `client` as
    /// the client certificate when given.
    public func clientArguments(client: Pair?, ca: Pair? = nil) -> [String] {
        ["--cafile", (ca ?? self.ca).certificate] + (client.map { ["--cert", $0.certificate, "--key", $0.key] } ?? [])
    }

    private struct Maker {
        let directory: URL

        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        func openssl(_ arguments: [String]) async throws {
            let result = try await ProcessRunner.run("openssl", arguments, timeout: .seconds(30))
            guard result.succeeded else { throw TestSetupError("openssl failed\n\(result)") }
        }

        func newKey(_ name: String) -> [String] {
            ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path("\(name).key")]
        }

        func authority(_ name: String, subject: String) async throws -> Pair {
            try await openssl(["req", "-x509"] + newKey(name) + [
                "-out", path("\(name).crt"), "-days", "30", "-subj", subject,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
            return Pair(certificate: path("\(name).crt"), key: path("\(name).key"))
        }

        func leaf(_ name: String, subject: String, issuer: Pair, serial: Int, extensions: [String], days: Int = 30) async throws -> Pair {
            try await openssl(["req"] + newKey(name) + ["-out", path("\(name).csr"), "-subj", subject])
            let extensionFile = path("\(name).ext")
            let extensionText = (["basicConstraints=CA:FALSE"] + extensions).joined(separator: "\n")
            try Data(extensionText.utf8).write(to: URL(fileURLWithPath: extensionFile))
            try await openssl([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", issuer.certificate, "-CAkey", issuer.key,
                "-set_serial", "\(serial)", "-days", "\(days)", "-extfile", extensionFile, "-out", path("\(name).crt"),
            ])
            return Pair(certificate: path("\(name).crt"), key: path("\(name).key"))
        }

        /// A CRL from `openssl ca` with a minimal database.
        func revocationList(issuer: Pair, revoking revoked: Pair) async throws -> String {
            let config = path("ca.cnf")
            try Data("".utf8).write(to: URL(fileURLWithPath: path("index.txt")))
            try Data("01\n".utf8).write(to: URL(fileURLWithPath: path("crlnumber")))
            let text = """
                [ca]
                default_ca = test_ca
                [test_ca]
                database = \(path("index.txt"))
                crlnumber = \(path("crlnumber"))
                certificate = \(issuer.certificate)
                private_key = \(issuer.key)
                default_md = sha256
                default_crl_days = 30
                """
            try Data(text.utf8).write(to: URL(fileURLWithPath: config))
            try await openssl(["ca", "-config", config, "-revoke", revoked.certificate])
            try await openssl(["ca", "-config", config, "-gencrl", "-out", path("crl.pem")])
            return path("crl.pem")
        }
    }
}
