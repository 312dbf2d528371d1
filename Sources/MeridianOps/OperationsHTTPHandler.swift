import NIOCore
import NIOHTTP1

/// Answers `GET /metrics`, `/healthz` and `/readyz` (and `HEAD` of them); anything else is 404
/// or 405. One response per connection: it closes after answering, which keeps the handler free
/// of keep-alive state; scrapers and probes reconnect at their own interval anyway.
final class OperationsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// A response: status, content type and body.
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var contentType = "text/plain; charset=utf-8"
        var body: String
    }

    /// Produces the response to a path, on any event loop.
    typealias Route = @Sendable (_ eventLoop: EventLoop) -> EventLoopFuture<Response>

    private let routes: [String: Route]
    private var request: HTTPRequestHead?

    init(routes: [String: Route]) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = String(head.uri.prefix { $0 != "?" })
        guard let route = routes[path] else {
            return respond(Response(status: .notFound, body: "not found: try /metrics, /healthz or /readyz\n"), head, context)
        }
        guard head.method == .GET || head.method == .HEAD else {
            return respond(Response(status: .methodNotAllowed, body: "only GET and HEAD\n"), head, context)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        route(context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let response): handler.respond(response, head, context)
            case .failure(let error):
                handler.respond(Response(status: .internalServerError, body: "error: \(error)\n"), head, context)
            }
        }
    }

    private func respond(_ response: Response, _ request: HTTPRequestHead, _ context: ChannelHandlerContext) {
        var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
        body.writeString(response.body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: request.version, status: response.status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension OperationsHTTPHandler: Sendable {}
