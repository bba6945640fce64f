import GRPCNIOTransportHTTP2
import NIOCore
import NIOHTTP2

/// Makes the server's limit on concurrent streams per connection hold from a connection's
/// first byte, and turns a client's excess streams into refused streams it can retry
/// instead of a connection error that fails every call on the connection.
///
/// Why this exists. NIOHTTP2 applies the server's own SETTINGS only once the client has
/// acknowledged them; until then it enforces a default of 100 concurrent client streams,
/// and a client that opens a 101st stream gets GOAWAY PROTOCOL_ERROR for the whole
/// connection. RFC 9113 says the opposite (the initial limit is unlimited, and a stream
/// over the limit is a stream error: PROTOCOL_ERROR or REFUSED_STREAM). gRPC's C-core
/// client (Python, C++, Ruby, PHP, Objective-C) opens its calls as soon as they are
/// started, before it has read the server's SETTINGS, so 150 calls started at once from
/// one process lost all 150. Nothing in the transport's configuration changes this, so it
/// is done here, in two small handlers (written by hand because no package does it):
///
/// - ``EarlySettingsHandler``, on the connection's bytes just below NIOHTTP2: it
///   acknowledges the server's SETTINGS to NIOHTTP2 on the client's behalf right after the
///   client's preface (and drops the client's own acknowledgement when it comes), so the
///   configured limits apply from the first stream; and it advertises `limit` in the
///   server's SETTINGS while NIOHTTP2 itself is configured with ``hardLimit``.
/// - ``StreamAdmissionHandler``, first in each stream's pipeline: it counts the
///   connection's open streams and answers a stream over `limit` with RST_STREAM
///   REFUSED_STREAM, which gRPC clients retry transparently, since nothing was processed.
///
/// Acknowledging early is safe because every setting the gRPC transport sends only lets
/// the client send more than the protocol's defaults allow (window and frame size at or
/// above the defaults, header list size what the HPACK decoder enforces anyway): applying
/// them before the client knows them cannot make a well-formed frame from the client wrong.
/// Lowering any of them (a window below 65,535, for instance) would not be safe, and the
/// server never does.
enum HTTP2StreamLimit {
    /// The limit NIOHTTP2 enforces (the largest SETTINGS value): a client above the
    /// advertised limit meets refusals from ``StreamAdmissionHandler``, never NIOHTTP2's
    /// connection error. Refused streams are closed at once, so they hold nothing.
    static let hardLimit = Int(Int32.max)

    /// The transport's callbacks that install both handlers on every connection.
    static func callbacks(limit: Int) -> HTTP2ServerTransport.Config.ChannelDebuggingCallbacks {
        HTTP2ServerTransport.Config.ChannelDebuggingCallbacks(
            onBindTCPListener: nil,
            onAcceptTCPConnection: { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    let http2 = try pipeline.handler(type: NIOHTTP2Handler.self)
                    try pipeline.addHandler(EarlySettingsHandler(advertisedLimit: limit), position: .before(http2))
                }
            },
            onAcceptHTTP2Stream: { stream in
                stream.eventLoop.makeCompletedFuture {
                    // Never fail this initializer: a failed stream initializer ends the
                    // transport's handling of the whole connection.
                    let openStreams = stream.parent.flatMap {
                        try? $0.pipeline.syncOperations.handler(type: EarlySettingsHandler.self).openStreams
                    }
                    guard let openStreams else { return }
                    try? stream.pipeline.syncOperations.addHandler(
                        StreamAdmissionHandler(openStreams: openStreams, limit: limit),
                        position: .first
                    )
                }
            }
        )
    }
}

/// The number of a connection's streams admitted and still open; used on the connection's
/// event loop only.
final class OpenStreamCount {
    var value = 0
}

/// Sits between the connection's bytes (after TLS) and NIOHTTP2. See ``HTTP2StreamLimit``.
///
/// Inbound it passes the client preface and the client's first SETTINGS frame, then
/// inserts a SETTINGS ACK, then passes frames until the client's own first SETTINGS ACK,
/// which it drops; from there on it only forwards. Outbound it rewrites
/// SETTINGS_MAX_CONCURRENT_STREAMS in the server's first SETTINGS frame to the advertised
/// limit. A connection that does not start as HTTP/2 should is passed through untouched,
/// for NIOHTTP2 to reject.
final class EarlySettingsHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum Phase {
        /// Passing the 24-byte connection preface; `remaining` bytes of it to go.
        case preface(remaining: Int)
        /// Expecting the client's first frame, which must be SETTINGS.
        case firstFrame
        /// Passing frames until the client's SETTINGS ACK.
        case awaitingAcknowledgement
        /// Done: every byte passes.
        case passthrough
    }

    static let prefaceLength = 24
    static let frameHeaderLength = 9
    static let settingsFrameType: UInt8 = 0x4
    static let ackFlag: UInt8 = 0x1
    static let maxConcurrentStreamsIdentifier: UInt16 = 0x3

    let openStreams = OpenStreamCount()
    private let advertisedLimit: UInt32
    private var phase = Phase.preface(remaining: EarlySettingsHandler.prefaceLength)
    /// The bytes of a frame header not yet complete.
    private var header: [UInt8] = []
    /// Payload bytes of the current frame still to pass.
    private var payloadRemaining = 0
    /// Whether to insert the acknowledgement once the current frame's payload has passed.
    private var acknowledgeAfterPayload = false
    private var rewroteSettings = false

    init(advertisedLimit: Int) {
        self.advertisedLimit = UInt32(clamping: advertisedLimit)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .passthrough = self.phase {
            context.fireChannelRead(data)
            return
        }
        var input = self.unwrapInboundIn(data)
        var output = context.channel.allocator.buffer(capacity: input.readableBytes + Self.frameHeaderLength)
        self.scan(&input, into: &output)
        if output.readableBytes > 0 {
            context.fireChannelRead(self.wrapInboundOut(output))
        }
    }

    /// Moves `input` to `output`, frame by frame, inserting and dropping as described above.
    private func scan(_ input: inout ByteBuffer, into output: inout ByteBuffer) {
        while input.readableBytes > 0 {
            if self.payloadRemaining > 0 {
                let count = min(self.payloadRemaining, input.readableBytes)
                if var slice = input.readSlice(length: count) {
                    output.writeBuffer(&slice)
                }
                self.payloadRemaining -= count
                self.finishFrameIfComplete(into: &output)
                continue
            }
            switch self.phase {
            case .passthrough:
                output.writeBuffer(&input)
            case .preface(let remaining):
                let count = min(remaining, input.readableBytes)
                if var slice = input.readSlice(length: count) {
                    output.writeBuffer(&slice)
                }
                self.phase = remaining == count ? .firstFrame : .preface(remaining: remaining - count)
            case .firstFrame, .awaitingAcknowledgement:
                while self.header.count < Self.frameHeaderLength, let byte = input.readInteger(as: UInt8.self) {
                    self.header.append(byte)
                }
                guard self.header.count == Self.frameHeaderLength else { return }
                self.handleHeader(into: &output)
            }
        }
    }

    /// Decides what a complete frame header means in the current phase.
    private func handleHeader(into output: inout ByteBuffer) {
        let header = self.header
        self.header.removeAll(keepingCapacity: true)
        let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
        let type = header[3]
        let flags = header[4]
        let isSettings = type == Self.settingsFrameType
        let isAcknowledgement = isSettings && flags & Self.ackFlag != 0

        switch self.phase {
        case .firstFrame:
            output.writeBytes(header)
            self.payloadRemaining = length
            if isSettings && !isAcknowledgement {
                self.acknowledgeAfterPayload = true
                self.phase = .awaitingAcknowledgement
            } else {
                // Not HTTP/2 as a client speaks it: leave it all to NIOHTTP2.
                self.phase = .passthrough
            }
        case .awaitingAcknowledgement where isAcknowledgement && length == 0:
            // The client's acknowledgement of what was already acknowledged for it.
            self.phase = .passthrough
        default:
            output.writeBytes(header)
            self.payloadRemaining = length
        }
        self.finishFrameIfComplete(into: &output)
    }

    /// Once the client's first SETTINGS frame has passed whole, acknowledges it to NIOHTTP2.
    private func finishFrameIfComplete(into output: inout ByteBuffer) {
        guard self.payloadRemaining == 0, self.acknowledgeAfterPayload else { return }
        self.acknowledgeAfterPayload = false
        output.writeBytes([0, 0, 0, Self.settingsFrameType, Self.ackFlag, 0, 0, 0, 0])
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !self.rewroteSettings, case .byteBuffer(var buffer) = self.unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        // NIOHTTP2 writes its SETTINGS frame, the server's preface, first and whole.
        self.rewroteSettings = true
        self.advertiseLimit(in: &buffer)
        context.write(self.wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
    }

    /// Sets SETTINGS_MAX_CONCURRENT_STREAMS to the advertised limit in the SETTINGS frame
    /// at the start of `buffer`, if there is one.
    private func advertiseLimit(in buffer: inout ByteBuffer) {
        let start = buffer.readerIndex
        guard
            let header = buffer.getBytes(at: start, length: Self.frameHeaderLength),
            header[3] == Self.settingsFrameType, header[4] & Self.ackFlag == 0
        else { return }
        let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
        guard buffer.readableBytes >= Self.frameHeaderLength + length else { return }
        var offset = start + Self.frameHeaderLength
        while offset + 6 <= start + Self.frameHeaderLength + length {
            if buffer.getInteger(at: offset, as: UInt16.self) == Self.maxConcurrentStreamsIdentifier {
                buffer.setInteger(self.advertisedLimit, at: offset + 2)
            }
            offset += 6
        }
    }
}

/// First in each HTTP/2 stream's pipeline: admits the stream if the connection has fewer
/// than `limit` open, else refuses it with RST_STREAM REFUSED_STREAM and closes it before
/// gRPC sees any of it. See ``HTTP2StreamLimit``.
final class StreamAdmissionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let openStreams: OpenStreamCount
    private let limit: Int
    private var admitted = false

    init(openStreams: OpenStreamCount, limit: Int) {
        self.openStreams = openStreams
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if self.openStreams.value < self.limit {
            self.openStreams.value += 1
            self.admitted = true
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if !self.admitted {
            context.writeAndFlush(self.wrapOutboundOut(.rstStream(.refusedStream)), promise: nil)
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.admitted {
            context.fireChannelRead(data)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.admitted {
            self.admitted = false
            self.openStreams.value -= 1
        }
        context.fireChannelInactive()
    }
}
