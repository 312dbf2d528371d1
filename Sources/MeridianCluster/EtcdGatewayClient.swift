import FoundationEssentials
import NIOConcurrencyHelpers
import NIOCore
import MeridianBroker
import NIOHTTP1
import NIOPosix
import NIOSSL

/// etcd 3.4's v3 JSON gateway over HTTP/1.1: keys and values are base64, 64-bit numbers are
/// strings, and fields with zero values are left out (a missing `TTL` means the lease is gone, a
/// missing `succeeded` means false). Each call tries the endpoints in turn from the last one
/// that answered, so any member may be down.
public final class EtcdGatewayClient: EtcdClient, @unchecked Sendable {
    private let endpoints: [(host: String, port: Int)]
    private let group: EventLoopGroup
    private let timeout: TimeAmount
    /// Set for `https://` endpoints.
    private let tls: NIOSSLContext?
    /// The endpoint that answered last: tried first.
    private let preferred = NIOLockedValueBox(0)

    /// Buckets of a histogram of request latency: from 1 ms (a loopback etcd) to the 2 s timeout.
    public static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
    ]

    /// Requests (watches aside) since the client was made, for `/metrics`.
    public struct Statistics: Sendable, Equatable {
        public var requests = 0
        /// Requests that failed: no member answered in time, or etcd answered with an error.
        public var failures = 0
        /// Seconds the requests that succeeded took, all together.
        public var answeredSeconds = 0.0
        /// The slowest request that succeeded, in seconds.
        public var slowestSeconds = 0.0
    }
    private let statisticsBox = NIOLockedValueBox(Statistics())
    public var statistics: Statistics { statisticsBox.withLockedValue { $0 } }

    /// The files of TLS to etcd (`etcd_cafile`, `etcd_certfile`, `etcd_keyfile`).
    public struct TLSFiles: Sendable {
        /// The CA that signed etcd's certificates (required for `https://`).
        public var caFile: String
        /// This node's client certificate and key, for an etcd that asks for one (`--client-cert-auth`).
        public var certFile: String?
        public var keyFile: String?

        public init(caFile: String, certFile: String?, keyFile: String?) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    /// Told how long each request that succeeded took (watches aside): a latency histogram.
    private let observeAnswer: (@Sendable (Duration) -> Void)?

    /// - Parameter endpoints: `http://host:port` URLs, or all `https://host:port` with `tls`.
    public init(
        endpoints: [String], group: EventLoopGroup, tls: TLSFiles? = nil, timeout: TimeAmount = .seconds(2),
        observeAnswer: (@Sendable (Duration) -> Void)? = nil
    ) throws {
        self.observeAnswer = observeAnswer
        let scheme = tls == nil ? "http://" : "https://"
        self.endpoints = try endpoints.map { url in
            guard url.hasPrefix(scheme) else {
                throw EtcdError(tls == nil
                    ? "\(url): an https:// endpoint needs etcd_cafile" : "\(url): with etcd_cafile every endpoint must be https://")
            }
            let rest = url.dropFirst(scheme.count)
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else {
                throw EtcdError("not a \(scheme)host:port URL: \(url)")
            }
            return (String(rest[..<colon]), port)
        }
        self.group = group
        self.timeout = timeout
        self.tls = try tls.map(Self.context)
    }

    private static func context(_ files: TLSFiles) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        do {
            var identity: ClusterTLS.Identity?
            switch (files.certFile, files.keyFile) {
            case let (cert?, key?):
                identity = .init(certFile: cert, certOption: "etcd_certfile", keyFile: key, keyOption: "etcd_keyfile")
            case (nil, nil):
                break
            default:
                throw EtcdError("etcd_certfile and etcd_keyfile go together")
            }
            try ClusterTLS.configure(&configuration, caFile: files.caFile, caOption: "etcd_cafile", identity: identity, verification: .fullVerification)
            return try NIOSSLContext(configuration: configuration)
        } catch let error as EtcdError {
            throw error
        } catch {
            throw EtcdError("TLS to etcd: \(error)")
        }
    }

    // MARK: EtcdClient

    public func grantLease(ttl: Int) async throws -> EtcdLease {
        let answer: LeaseAnswer = try await call("/v3/lease/grant", ["TTL": "\(ttl)"])
        guard let id = answer.ID.flatMap(Int64.init), let granted = answer.TTL.flatMap(Int.init) else {
            throw EtcdError("lease grant answered without a lease: \(answer.error ?? "")")
        }
        return EtcdLease(id: id, ttl: granted)
    }

    public func keepAlive(lease: Int64) async throws -> Int {
        let answer: StreamAnswer<LeaseAnswer> = try await call("/v3/lease/keepalive", ["ID": "\(lease)"])
        return answer.result?.TTL.flatMap(Int.init) ?? 0
    }

    public func revoke(lease: Int64) async throws {
        let _: Header = try await call("/v3/lease/revoke", ["ID": "\(lease)"])
    }

    public func create(key: String, value: String, lease: Int64) async throws -> Int64? {
        try await createAll(keys: [key], value: value, lease: lease)
    }

    public func createAll(keys: [String], value: String, lease: Int64) async throws -> Int64? {
        let body = TxnRequest(
            compare: keys.map { .init(target: "CREATE", key: Self.base64($0), create_revision: "0") },
            success: keys.map { .init(request_put: .init(key: Self.base64($0), value: Self.base64(value), lease: "\(lease)")) })
        let answer: TxnAnswer = try await call("/v3/kv/txn", body)
        guard answer.succeeded == true else { return nil }
        guard let revision = answer.header?.revision.flatMap(Int64.init) else { throw EtcdError("txn answered without a revision") }
        return revision
    }

    public func deleteAll(_ keys: [(key: String, createRevision: Int64)]) async throws -> Bool {
        let body = TxnRequest(
            compare: keys.map { .init(target: "CREATE", key: Self.base64($0.key), create_revision: "\($0.createRevision)") },
            success: keys.map { .init(request_delete_range: .init(key: Self.base64($0.key))) })
        let answer: TxnAnswer = try await call("/v3/kv/txn", body)
        return answer.succeeded == true
    }

    public func range(prefix: String) async throws -> (kvs: [EtcdKeyValue], revision: Int64) {
        let answer: RangeAnswer = try await call("/v3/kv/range", ["key": Self.base64(prefix), "range_end": Self.base64(Self.prefixEnd(prefix))])
        let revision = answer.header?.revision.flatMap(Int64.init) ?? 0
        return (try (answer.kvs ?? []).map { try $0.decoded() }, revision)
    }

    public func watch(prefix: String, startRevision: Int64, onEvents: @escaping @Sendable ([EtcdEvent]) -> Void) async throws {
        let body = ["create_request": WatchCreate(key: Self.base64(prefix), range_end: Self.base64(Self.prefixEnd(prefix)), start_revision: "\(startRevision)")]
        let request = try JSONEncoder().encode(body)
        try await stream("/v3/watch", body: Array(request)) { line in
            guard let answer = try? JSONDecoder().decode(StreamAnswer<WatchAnswer>.self, from: Data(line)) else { return }
            if let error = answer.error { throw EtcdError("watch: \(error.message ?? "error")") }
            guard let result = answer.result else { return }
            if result.canceled == true { throw EtcdError("watch canceled: \(result.cancel_reason ?? "")") }
            let events = try (result.events ?? []).map { event in
                EtcdEvent(kind: event.type == "DELETE" ? .delete : .put, kv: try event.kv.decoded())
            }
            if !events.isEmpty { onEvents(events) }
        }
    }

    // MARK: HTTP

    private func call<Body: Encodable, Answer: Decodable>(_ path: String, _ body: Body) async throws -> Answer {
        let started = NIODeadline.now()
        do {
            let answer: Answer = try await callOnce(path, body)
            let took = NIODeadline.now() - started
            let seconds = Double(took.nanoseconds) / 1e9
            observeAnswer?(.nanoseconds(took.nanoseconds))
            statisticsBox.withLockedValue {
                $0.requests += 1
                $0.answeredSeconds += seconds
                $0.slowestSeconds = max($0.slowestSeconds, seconds)
            }
            return answer
        } catch {
            statisticsBox.withLockedValue {
                $0.requests += 1
                $0.failures += 1
            }
            throw error
        }
    }

    private func callOnce<Body: Encodable, Answer: Decodable>(_ path: String, _ body: Body) async throws -> Answer {
        let request = Array(try JSONEncoder().encode(body))
        var lastError: Error = EtcdError("no etcd endpoint")
        let first = preferred.withLockedValue { $0 }
        for step in 0..<endpoints.count {
            let index = (first + step) % endpoints.count
            do {
                let (status, data) = try await exchange(endpoints[index], path: path, body: request)
                guard status == .ok else {
                    let message = (try? JSONDecoder().decode(ErrorAnswer.self, from: Data(data)))?.message ?? "HTTP \(status.code)"
                    throw EtcdError("\(path): \(message)")
                }
                preferred.withLockedValue { $0 = index }
                return try JSONDecoder().decode(Answer.self, from: Data(data))
            } catch let error as EtcdError where error.description.hasPrefix(path) {
                throw error  // etcd answered: another member would answer the same
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// One request on its own connection; the whole answer.
    private func exchange(_ endpoint: (host: String, port: Int), path: String, body: [UInt8]) async throws -> (HTTPResponseStatus, [UInt8]) {
        let collector = ResponseCollector(loop: group.next(), onLine: nil)
        let channel = try await connect(endpoint, collector: collector)
        defer { channel.close(promise: nil) }
        try await send(channel, endpoint: endpoint, path: path, body: body)
        let scheduled = channel.eventLoop.scheduleTask(in: timeout) { collector.fail(EtcdError("\(endpoint.host):\(endpoint.port) did not answer in time")) }
        defer { scheduled.cancel() }
        return try await collector.done.futureResult.get()
    }

    /// A streaming request (watch): each newline-separated JSON message goes to `onLine` until the
    /// server ends the stream or the connection fails.
    private func stream(_ path: String, body: [UInt8], onLine: @escaping @Sendable ([UInt8]) throws -> Void) async throws {
        var lastError: Error = EtcdError("no etcd endpoint")
        let first = preferred.withLockedValue { $0 }
        for step in 0..<endpoints.count {
            let endpoint = endpoints[(first + step) % endpoints.count]
            let collector = ResponseCollector(loop: group.next(), onLine: onLine)
            do {
                let channel = try await connect(endpoint, collector: collector)
                defer { channel.close(promise: nil) }
                try await send(channel, endpoint: endpoint, path: path, body: body)
                // Cancelling the watching task closes the stream.
                _ = try await withTaskCancellationHandler {
                    try await collector.done.futureResult.get()
                } onCancel: {
                    channel.close(promise: nil)
                }
                return
            } catch {
                lastError = error
                if collector.receivedAny { throw error }  // it was serving: let the caller re-read and resume
            }
        }
        throw lastError
    }

    private func connect(_ endpoint: (host: String, port: Int), collector: ResponseCollector) async throws -> Channel {
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelInitializer { [tls] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // The host name is checked against the certificate; an IP address against its IP entries (no SNI).
                        let isAddress = (try? SocketAddress(ipAddress: endpoint.host, port: 0)) != nil
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : endpoint.host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
        do {
            return try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            collector.fail(error)  // no channel will ever complete it
            throw error
        }
    }

    private func send(_ channel: Channel, endpoint: (host: String, port: Int), path: String, body: [UInt8]) async throws {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: "\(body.count)")
        head.headers.add(name: "Connection", value: "close")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
    }

    // MARK: Encoding

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    static func unbase64(_ text: String?) throws -> String {
        guard let text else { return "" }
        guard let data = Data(base64Encoded: text) else { throw EtcdError("etcd sent bad base64") }
        return String(decoding: data, as: UTF8.self)
    }

    /// The end of the key range that holds every key starting with `prefix`.
    static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return "\0"
    }
}

/// Collects one HTTP response; for a stream, hands each complete line of its body to `onLine`.
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    let done: EventLoopPromise<(HTTPResponseStatus, [UInt8])>
    private let onLine: (@Sendable ([UInt8]) throws -> Void)?
    private var status = HTTPResponseStatus.ok
    private var body: [UInt8] = []
    private var finished = false
    /// Whether the server had begun to answer (read once the exchange is over).
    private(set) var receivedAny = false

    init(loop: EventLoop, onLine: (@Sendable ([UInt8]) throws -> Void)?) {
        self.onLine = onLine
        self.done = loop.makePromise()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
        case .body(var buffer):
            receivedAny = true
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
            guard let onLine, status == .ok else { return }
            while let newline = body.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(body[..<newline])
                body.removeSubrange(...newline)
                do { try onLine(line) } catch {
                    fail(error)
                    context.close(promise: nil)
                    return
                }
            }
        case .end:
            if let onLine, status == .ok, !body.isEmpty { try? onLine(body) }
            complete()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(EtcdError("connection closed"))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(EtcdError("connection closed"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(error)
        context.close(promise: nil)
    }

    func fail(_ error: Error) {
        guard !finished else { return }
        finished = true
        done.fail(error)
    }

    private func complete() {
        guard !finished else { return }
        finished = true
        done.succeed((status, body))
    }
}

// MARK: - Gateway JSON

private struct Header: Decodable {
    var revision: String?
}

private struct ErrorAnswer: Decodable {
    var message: String?
    var error: String?
}

private struct LeaseAnswer: Decodable {
    var ID: String?
    var TTL: String?
    var error: String?
}

private struct StreamAnswer<Result: Decodable>: Decodable {
    var result: Result?
    var error: ErrorAnswer?
}

private struct TxnRequest: Encodable {
    struct Compare: Encodable {
        var target: String
        var key: String
        var create_revision: String
    }
    struct Put: Encodable {
        var key: String
        var value: String
        var lease: String
    }
    struct Delete: Encodable {
        var key: String
    }
    struct Operation: Encodable {
        var request_put: Put?
        var request_delete_range: Delete?

        init(request_put: Put) { self.request_put = request_put }
        init(request_delete_range: Delete) { self.request_delete_range = request_delete_range }
    }
    var compare: [Compare]
    var success: [Operation]
}

private struct TxnAnswer: Decodable {
    var header: Header?
    var succeeded: Bool?
}

private struct RawKeyValue: Decodable {
    var key: String?
    var value: String?
    var create_revision: String?
    var mod_revision: String?

    func decoded() throws -> EtcdKeyValue {
        EtcdKeyValue(
            key: try EtcdGatewayClient.unbase64(key), value: try EtcdGatewayClient.unbase64(value),
            createRevision: create_revision.flatMap(Int64.init) ?? 0, modRevision: mod_revision.flatMap(Int64.init) ?? 0)
    }
}

private struct RangeAnswer: Decodable {
    var header: Header?
    var kvs: [RawKeyValue]?
}

private struct WatchCreate: Encodable {
    var key: String
    var range_end: String
    var start_revision: String
}

private struct WatchAnswer: Decodable {
    struct Event: Decodable {
        var type: String?
        var kv: RawKeyValue
    }
    var header: Header?
    var created: Bool?
    var canceled: Bool?
    var cancel_reason: String?
    var events: [Event]?
}
