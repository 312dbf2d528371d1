import Foundation

/// A real etcd cluster of `size` members on free loopback ports, for tests: started with
/// `etcd` from apt `etcd-server`, each member stopped (and restarted) by its PID.
public final class EtcdCluster: @unchecked Sendable {
    public struct MemberPorts: Sendable {
        public var name: String
        public var client: Int
        public var peer: Int
        /// `https` when the cluster serves its clients over TLS.
        public var scheme = "http"
        public var clientURL: String { "\(scheme)://127.0.0.1:\(client)" }
    }

    /// TLS on the client URLs: etcd's certificate and key, and the CA whose client certificates it
    /// requires (`--client-cert-auth`); `client` is the pair the cluster's own health checks use.
    public struct TLS: Sendable {
        public var caFile: String
        public var server: TestCertificates.Pair
        public var client: TestCertificates.Pair

        public init(caFile: String, server: TestCertificates.Pair, client: TestCertificates.Pair) {
            self.caFile = caFile
            self.server = server
            self.client = client
        }
    }

    public let members: [MemberPorts]
    public let directory: URL
    public let tls: TLS?
    private var processes: [Int: RunningProcess] = [:]
    private let initialCluster: String

    public var clientURLs: [String] { members.map(\.clientURL) }

    /// Starts every member and waits until the cluster answers (a leader is elected).
    public init(size: Int = 3, tls: TLS? = nil) async throws {
        self.tls = tls
        directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-etcd")
        var members: [MemberPorts] = []
        for index in 0..<size {
            members.append(MemberPorts(
                name: "etcd\(index)", client: try FreePort.allocate(), peer: try FreePort.allocate(), scheme: tls == nil ? "http" : "https"))
        }
        self.members = members
        initialCluster = members.map { "\($0.name)=http://127.0.0.1:\($0.peer)" }.joined(separator: ",")
        for index in members.indices { try start(member: index, initial: true) }
        try await waitUntilHealthy()
    }

    /// Starts member `index` (again, after ``stop(member:)``, with its data directory kept).
    public func start(member index: Int, initial: Bool = false) throws {
        let member = members[index]
        processes[index] = try RunningProcess("etcd", [
            "--name", member.name, "--data-dir", directory.appendingPathComponent(member.name).path,
            "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
            "--listen-peer-urls", "http://127.0.0.1:\(member.peer)",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(member.peer)",
            "--initial-cluster", initialCluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", "meridian-test",
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ] + (tls.map { ["--cert-file", $0.server.certificate, "--key-file", $0.server.key, "--trusted-ca-file", $0.caFile, "--client-cert-auth"] } ?? []),
            outputDirectory: directory, outputName: member.name)
    }

    /// Stops member `index` by its PID (SIGTERM, then SIGKILL after the grace).
    public func stop(member index: Int) {
        _ = processes[index]?.stop(grace: .seconds(5))
        processes[index] = nil
    }

    /// Waits until a put through the gateway of every running member succeeds.
    public func waitUntilHealthy(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        for index in processes.keys.sorted() {
            while true {
                if (try? await post(members[index].clientURL + "/v3/kv/put", #"{"key":"aGVhbHRo","value":"b2s="}"#)) != nil { break }
                guard ContinuousClock.now < deadline else { throw TestSetupError("etcd member \(members[index].name) did not become healthy") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// POSTs JSON and returns the answer's body (throws on a failure or a non-200 status).
    public static func post(_ url: String, _ body: String) async throws -> String {
        try await post(url, body, tls: nil)
    }

    /// POSTs JSON to a member of this cluster (with the cluster's client certificate when it has TLS).
    public func post(_ url: String, _ body: String) async throws -> String {
        try await Self.post(url, body, tls: tls)
    }

    private static func post(_ url: String, _ body: String, tls: TLS?) async throws -> String {
        let certificates = tls.map { ["--cacert", $0.caFile, "--cert", $0.client.certificate, "--key", $0.client.key] } ?? []
        let output = try await ProcessRunner.run(
            "curl", ["-s", "-f", "-m", "2", "-X", "POST", "-d", body] + certificates + [url], timeout: .seconds(5))
        guard output.succeeded else { throw TestSetupError("curl \(url): \(output)") }
        return output.stdout
    }

    public func shutdown() {
        for index in processes.keys { stop(member: index) }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { for process in processes.values { _ = process.stop(grace: .seconds(2)) } }
}
