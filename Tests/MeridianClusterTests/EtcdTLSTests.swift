import Foundation
import Logging
import MeridianBrokerCore
import MeridianCluster
import MeridianTestSupport
import NIOPosix
import Testing

/// TLS to etcd (`etcd_cafile`, `etcd_certfile`, `etcd_keyfile`) against a real etcd that serves its
/// clients over TLS and requires client certificates, with certificates made by `openssl`.
@Suite(.serialized) struct EtcdTLSTests {
    private func membership(_ client: EtcdGatewayClient) -> ClusterMembership {
        ClusterMembership(
            settings: .init(nodeName: "node-tls", memberPrefix: "/meridian-tls/clusters/eu/members/", advertise: "127.0.0.1:7000", ttl: 3),
            etcd: client, clock: SystemClock(), logger: Logger(label: "test.tls"))
    }

    @Test func aNodeJoinsOverTLSWithItsClientCertificateAndIsRefusedWithoutOne() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.cleanup() }
        let etcd = try await EtcdCluster(
            size: 1, tls: .init(caFile: certificates.ca.certificate, server: certificates.serverAndClient, client: certificates.deviceA))
        defer { etcd.shutdown() }
        #expect(etcd.clientURLs.allSatisfy { $0.hasPrefix("https://") })
        let group = MultiThreadedEventLoopGroup.singleton

        // The CA and this node's certificate: the whole membership protocol works.
        let trusted = try EtcdGatewayClient(
            endpoints: etcd.clientURLs, group: group,
            tls: .init(caFile: certificates.ca.certificate, certFile: certificates.deviceA.certificate, keyFile: certificates.deviceA.key))
        let node = membership(trusted)
        try await node.join()
        #expect(node.isServing && node.incarnation != nil)
        let run = Task { try await node.run() }
        let deadline = ContinuousClock.now + .seconds(5)
        while node.members.map(\.name) != ["node-tls"] && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(node.members.map(\.name) == ["node-tls"])
        run.cancel()
        _ = try? await run.value

        // Without a client certificate etcd refuses the handshake; with another CA the client refuses etcd's.
        let anonymous = try EtcdGatewayClient(
            endpoints: etcd.clientURLs, group: group, tls: .init(caFile: certificates.ca.certificate, certFile: nil, keyFile: nil))
        await #expect(throws: (any Error).self) { _ = try await anonymous.grantLease(ttl: 3) }
        let wrongCA = try EtcdGatewayClient(
            endpoints: etcd.clientURLs, group: group,
            tls: .init(caFile: certificates.otherCA.certificate, certFile: certificates.deviceA.certificate, keyFile: certificates.deviceA.key))
        await #expect(throws: (any Error).self) { _ = try await wrongCA.grantLease(ttl: 3) }

        // Endpoints and TLS settings that do not fit are refused before any connection.
        #expect(throws: EtcdError.self) {
            _ = try EtcdGatewayClient(endpoints: ["http://127.0.0.1:2379"], group: group, tls: .init(caFile: certificates.ca.certificate, certFile: nil, keyFile: nil))
        }
        #expect(throws: EtcdError.self) { _ = try EtcdGatewayClient(endpoints: ["https://127.0.0.1:2379"], group: group) }
        #expect(throws: EtcdError.self) {
            _ = try EtcdGatewayClient(
                endpoints: etcd.clientURLs, group: group, tls: .init(caFile: certificates.ca.certificate, certFile: certificates.deviceA.certificate, keyFile: nil))
        }
    }
}
