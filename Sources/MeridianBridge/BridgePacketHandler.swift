import MeridianMQTT
import NIOCore

/// One side of a bridge link (local or remote): parses what the peer sends as a client and
/// hands each packet to the link; the link writes packets back through ``send(_:)``.
/// Confined to the link's event loop.
final class BridgePacketHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var reader: MQTTPacketReader
    private let onPacket: (MQTTPacket) -> Void
    private let onClose: (Error?) -> Void
    private var context: ChannelHandlerContext?
    private var closeError: Error?
    var version: MQTTProtocolVersion {
        didSet { reader.parser.protocolVersion = version }
    }

    init(version: MQTTProtocolVersion, onPacket: @escaping (MQTTPacket) -> Void, onClose: @escaping (Error?) -> Void) {
        self.version = version
        self.reader = MQTTPacketReader(parser: MQTTPacketParser(role: .client, protocolVersion: version))
        self.onPacket = onPacket
        self.onClose = onClose
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reader.append(unwrapInboundIn(data))
        do {
            while let packet = try reader.next() { onPacket(packet) }
        } catch {
            closeError = error
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        onClose(closeError)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        closeError = error
        context.close(promise: nil)
    }

    /// Writes a packet; flushed at the end of the read batch or by ``flush()``.
    func send(_ packet: MQTTPacket) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        packet.write(version: version, to: &buffer)
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() { context?.flush() }

    func close() { context?.close(promise: nil) }
}
