import Logging
@testable import MeridianBroker
import MeridianBrokerCore
import MeridianMQTT
import MeridianSecurity
import NIOCore
import NIOEmbedded
import Testing

/// The certificate-bound identity step of CONNECT, on `EmbeddedChannel`: the TLS layer's
/// ``CertificateUsernameEvent`` replaces the CONNECT username (so `allow_anonymous false` admits
/// the client), and a listener that wants a certificate name refuses a client without one.
@Suite struct CertificateIdentityHandlerTests {
    /// A connection on a listener whose username comes from the certificate, after the TLS layer
    /// reported `username`; then `connect` is sent.
    static func connect(
        _ broker: EmbeddedBroker, version: MQTTProtocolVersion, certificateName username: String?, connect: MQTTConnect
    ) throws -> (MQTTConnectionHandler, TestClient) {
        let handler = MQTTConnectionHandler(broker: broker.broker, loopContext: broker.context, connectionID: 1)
        handler.certificateUsernameSource = .commonName
        let channel = EmbeddedChannel(handler: handler, loop: broker.loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.pipeline.fireUserInboundEventTriggered(CertificateUsernameEvent(username: username))
        let client = TestClient(channel: channel, version: version)
        try client.send(.connect(connect))
        return (handler, client)
    }

    @Test("the certificate's name replaces the CONNECT username and password; allow_anonymous false admits it")
    func certificateNameIsTheUsername() throws {
        let broker = EmbeddedBroker()
        // An empty password file: the certificate is the credential, so the file is not consulted.
        broker.broker.applySecurity(SecurityPolicy(allowAnonymous: false, passwords: PasswordFile()))
        let connect = MQTTConnect(
            protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientIdentifier: "c1",
            username: "someone-else", password: ByteBuffer(string: "secret")
        )
        let (handler, client) = try Self.connect(broker, version: .v5, certificateName: "device-a", connect: connect)
        guard case .connack(let connack) = try client.received().first else { Issue.record("no CONNACK"); return }
        #expect(connack.reasonCode == .success)
        #expect(handler.credential == .certificate(username: "device-a"))
    }

    @Test("no certificate name: refused with bad user name or password", arguments: [
        (MQTTProtocolVersion.v5, MQTTReasonCode.badUserNameOrPassword),
        (MQTTProtocolVersion.v3_1_1, MQTTReasonCode.badUserNameOrPassword.v3ConnackReturnCode),
    ])
    func noCertificateName(version: MQTTProtocolVersion, expected: MQTTReasonCode) throws {
        let broker = EmbeddedBroker()
        let connect = MQTTConnect(protocolVersion: version, cleanStart: true, keepAlive: 60, clientIdentifier: "c2", username: "device-a")
        let (handler, client) = try Self.connect(broker, version: version, certificateName: nil, connect: connect)
        guard case .connack(let connack) = try client.received().first else { Issue.record("no CONNACK"); return }
        #expect(connack.reasonCode == expected)
        #expect(handler.credential == nil)
        #expect(broker.context.counters.authFailures == 1, "counted as an authentication failure")
    }
}
