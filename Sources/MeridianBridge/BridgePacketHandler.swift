import MeridianMQTT
import NIOCore

/// One side of a bridge link (local or remote): parses what the peer sends as a client and
/// hands each packet to the link; the link writes packets back through ``send(_:)``.
/// Confined to the link's event loop.
final class BridgePacketHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var parser: MQTTPacketParser
    private let onPacket: (MQTTPacket) -> Void
    private let onClose: (Error?) -> Void
    private var context: ChannelHandlerContext?
    private var cumulation: ByteBuffer?
    private var closeError: Error?
    var version: MQTTProtocolVersion {
        didSet { parser.protocolVersion = version }
    }

    init(version: MQTTProtocolVersion, onPacket: @escaping (MQTTPacket) -> Void, onClose: @escaping (Error?) -> Void) {
        self.version = version
        self.parser = MQTTPacketParser(role: .client, protocolVersion: version)
        self.onPacket = onPacket
        self.onClose = onClose
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var pending = cumulation {
            cumulation = nil
            pending.writeBuffer(&buffer)
            buffer = pending
        }
        do {
            while let packet = try parser.next(from: &buffer) { onPacket(packet) }
        } catch {
            closeError = error
            context.close(promise: nil)
            return
        }
        if buffer.readableBytes > 0 {
            buffer.discardReadBytes()
            cumulation = buffer
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
