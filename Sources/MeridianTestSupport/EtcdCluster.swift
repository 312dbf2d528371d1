import Foundation

/// A real etcd cluster of `size` members on free loopback ports, for tests: started with
/// `etcd` from apt `etcd-server`, each member stopped (and restarted) by its PID.
public final class EtcdCluster: @unchecked Sendable {
    public struct MemberPorts: Sendable {
        public var name: String
        public var client: Int
        public var peer: Int
        public var clientURL: String { "http://127.0.0.1:\(client)" }
    }

    public let members: [MemberPorts]
    public let directory: URL
    private var processes: [Int: RunningProcess] = [:]
    private let initialCluster: String

    public var clientURLs: [String] { members.map(\.clientURL) }

    /// Starts every member and waits until the cluster answers (a leader is elected).
    public init(size: Int = 3) async throws {
        directory = try TestPaths.makeTemporaryDirectory(prefix: "meridian-etcd")
        var members: [MemberPorts] = []
        for index in 0..<size {
            members.append(MemberPorts(name: "etcd\(index)", client: try FreePort.allocate(), peer: try FreePort.allocate()))
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
        ], outputDirectory: directory, outputName: member.name)
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
                if (try? await Self.post(members[index].clientURL + "/v3/kv/put", #"{"key":"aGVhbHRo","value":"b2s="}"#)) != nil { break }
                guard ContinuousClock.now < deadline else { throw TestSetupError("etcd member \(members[index].name) did not become healthy") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// POSTs JSON and returns the answer's body (throws on a failure or a non-200 status).
    public static func post(_ url: String, _ body: String) async throws -> String {
        let output = try await ProcessRunner.run("curl", ["-s", "-f", "-m", "2", "-X", "POST", "-d", body, url], timeout: .seconds(5))
        guard output.succeeded else { throw TestSetupError("curl \(url): \(output)") }
        return output.stdout
    }

    public func shutdown() {
        for index in processes.keys { stop(member: index) }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { for process in processes.values { _ = process.stop(grace: .seconds(2)) } }
}
