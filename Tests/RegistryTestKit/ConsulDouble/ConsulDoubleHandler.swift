import NIOCore
import NIOHTTP1

/// Reads HTTP/1.1 requests for ``ConsulDouble`` and writes its answers (keep-alive).
final class ConsulDoubleHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let double: ConsulDouble
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(double: ConsulDouble) {
        self.double = double
    }

    func channelActive(context: ChannelHandlerContext) {
        if !self.double.opened(context.channel) {
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.double.closed(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = []
        case .body(var buffer):
            self.body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let request = ConsulDoubleRequest(method: head.method, uri: head.uri, headers: head.headers, body: self.body)
            switch self.double.handle(request) {
            case .stall:
                break
            case .respond(let response):
                self.write(response, context: context)
            case .delayed(let delay, let response):
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)) {
                    let (handler, context) = bound.value
                    handler.write(response, context: context)
                }
            }
        }
    }

    private func write(_ response: ConsulDoubleResponse, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        for (name, value) in response.headers {
            headers.add(name: name, value: value)
        }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: response.body.count)
        buffer.writeBytes(response.body)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// One request as the double's routes see it.
struct ConsulDoubleRequest {
    var method: HTTPMethod
    var uri: String
    var path: String
    /// Query parameters, percent-decoded; a parameter without `=` has an empty value.
    var query: [String: String]
    var headers: HTTPHeaders
    var body: [UInt8]

    init(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8]) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        self.path = Self.percentDecoded(parts.first.map(String.init) ?? "")
        var query: [String: String] = [:]
        if parts.count > 1 {
            for item in parts[1].split(separator: "&") {
                let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query[Self.percentDecoded(String(pair[0]))] = pair.count > 1 ? Self.percentDecoded(String(pair[1])) : ""
            }
        }
        self.query = query
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// One answer of the double.
struct ConsulDoubleResponse: Sendable {
    var status: Int
    var body: [UInt8]
    var contentType = "application/json"
    var headers: [(String, String)] = []

    static func text(_ status: Int, _ text: String) -> Self {
        Self(status: status, body: Array(text.utf8), contentType: "text/plain; charset=utf-8")
    }
}

/// What the double does with a request.
enum ConsulDoubleAction: Sendable {
    case respond(ConsulDoubleResponse)
    case delayed(Duration, ConsulDoubleResponse)
    case stall
}
