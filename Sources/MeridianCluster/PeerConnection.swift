import MeridianBroker
import MeridianClusterCore
import MeridianMQTT
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// One inter-node link's socket: decodes what the peer sends and hands each packet to its
/// ``PeerLink`` on the link's own event loop, and writes the link's packets in batches. The
/// socket's loop and the link's may differ (an accepted connection lands on any loop): every
/// crossing is one `execute` per batch.
final class PeerConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var reader: MQTTPacketReader
    /// Set once the link is known (at once when dialing; after the CONNECT when accepting).
    var onPackets: (([MQTTPacket]) -> Void)?
    var onClose: (() -> Void)?
    private var context: ChannelHandlerContext?
    private var received: [MQTTPacket] = []
    let remote: String
    /// Whether the socket takes more writes now (below its high-water mark); read from any loop.
    private let writable = NIOLockedValueBox(true)
    var isWritable: Bool { writable.withLockedValue { $0 } }

    init(role: MQTTPacketParser.Role, remote: String) {
        reader = MQTTPacketReader(parser: MQTTPacketParser(role: role, protocolVersion: role == .client ? .v5 : nil))
        self.remote = remote
    }

    var eventLoop: EventLoop? { context?.eventLoop }

    /// What TLS proved about the other end (call on the loop, once packets arrived: after the handshake).
    var proof: PeerHandshake.Proof {
        guard let pipeline = context?.pipeline, let tls = try? pipeline.syncOperations.handler(type: NIOSSLHandler.self) else {
            return .none
        }
        return .certificate(commonName: tls.peerCertificate.flatMap(CertificateNames.commonName(of:)))
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reader.append(unwrapInboundIn(data))
        do {
            while let packet = try reader.next() { received.append(packet) }
        } catch {
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !received.isEmpty, let onPackets else { return }
        let batch = received
        received.removeAll(keepingCapacity: true)
        onPackets(batch)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let isWritable = context.channel.isWritable
        writable.withLockedValue { $0 = isWritable }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        onClose?()
        onClose = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Writes the packets and flushes, from any loop.
    func send(_ packets: [MQTTPacket]) {
        guard !packets.isEmpty else { return }
        guard let loop = eventLoop else { return }
        if loop.inEventLoop {
            write(packets)
        } else {
            loop.execute { self.write(packets) }
        }
    }

    private func write(_ packets: [MQTTPacket]) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 256 * packets.count)
        for packet in packets { packet.write(version: .v5, to: &buffer) }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Closes the socket, from any loop.
    func close() {
        guard let loop = eventLoop else { return }
        loop.execute { self.context?.close(promise: nil) }
    }
}
