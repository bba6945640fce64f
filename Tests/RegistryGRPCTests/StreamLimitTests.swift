import NIOCore
import NIOHPACK
import NIOPosix
import RegistryServer
import Testing

/// The server's stream limit, seen on the wire by a client that writes HTTP/2 frames by
/// hand, as gRPC's C-core does in a burst: every stream opened before it has read, let
/// alone acknowledged, the server's SETTINGS.
@Suite("HTTP/2 stream limit")
struct StreamLimitTests {
    @Test("streams over the limit opened before SETTINGS are acknowledged are refused one by one; the connection and the calls within the limit survive")
    func excessStreamsAreRefusedNotTheConnection() async throws {
        let limit = 10
        let burst = 200
        try await withRunningRegistry(configure: { $0.grpc.maxConcurrentStreams = limit }) { registry in
            try await RawHTTP2Connection.with(port: registry.port) { connection in
                // Preface, SETTINGS and `burst` request headers in one write, nothing read yet.
                // The requests stay open (no message yet), so the first `limit` streams hold
                // their slots and every later one is over the limit.
                let streams = (0..<burst).map { 1 + 2 * $0 }
                try await connection.send(preface: true, streams.map { .headers(stream: $0, endStream: false) })

                let refused = try await connection.receive { $0.refused.count + $0.completed.count >= burst - limit }
                #expect(refused.goAway == nil, "the server closed the connection: \(String(describing: refused.goAway))")
                #expect(refused.advertisedMaxConcurrentStreams == limit)
                #expect(refused.refused.count == burst - limit, "refused: \(refused.refused.count)")
                let admitted = streams.filter { !refused.refused.contains($0) }
                #expect(admitted == Array(streams.prefix(limit)))

                // Now acknowledge SETTINGS and finish the admitted requests: every one is answered.
                try await connection.send([.settingsAcknowledgement] + admitted.map { .emptyMessage(stream: $0) })
                let answered = try await connection.receive { state in admitted.allSatisfy { state.completed[$0] != nil } }
                for stream in admitted {
                    #expect(answered.completed[stream] == "0", "stream \(stream): grpc-status \(answered.completed[stream] ?? "none")")
                }

                // The slots are free again and the connection is still usable.
                let next = 1 + 2 * burst
                try await connection.send([.headers(stream: next, endStream: false), .emptyMessage(stream: next)])
                let after = try await connection.receive { $0.completed[next] != nil || $0.refused.contains(next) }
                #expect(after.completed[next] == "0")
                #expect(after.goAway == nil)
            }
        }
    }

    @Test("the default limit lets 1,000 calls opened at once through without a refusal")
    func defaultLimitTakesAThousandCallsAtOnce() async throws {
        let burst = 1000
        try await withRunningRegistry() { registry in
            try await RawHTTP2Connection.with(port: registry.port) { connection in
                let streams = (0..<burst).map { 1 + 2 * $0 }
                try await connection.send(
                    preface: true,
                    streams.flatMap { [RawHTTP2Connection.Frame.headers(stream: $0, endStream: false), .emptyMessage(stream: $0)] }
                )
                let state = try await connection.receive { $0.completed.count + $0.refused.count == burst || $0.goAway != nil }
                #expect(state.goAway == nil)
                #expect(state.advertisedMaxConcurrentStreams == 1000)
                #expect(state.refused.isEmpty)
                #expect(state.completed.values.allSatisfy { $0 == "0" })
                #expect(state.completed.count == burst)
            }
        }
    }
}

/// A plaintext HTTP/2 client connection that writes frames by hand and records what the
/// server answers, per stream: enough to call ListRelays, and to misbehave like a burst.
struct RawHTTP2Connection {
    enum Frame {
        /// Request headers for ListRelays.
        case headers(stream: Int, endStream: Bool)
        /// An empty ListRelaysRequest, ending the request.
        case emptyMessage(stream: Int)
        case settingsAcknowledgement
    }

    /// What the server has said so far.
    struct State {
        /// grpc-status of every stream answered with trailers.
        var completed: [Int: String] = [:]
        /// Streams reset with REFUSED_STREAM.
        var refused: Set<Int> = []
        /// Streams reset with another error code.
        var reset: [Int: UInt32] = [:]
        /// The error code of a GOAWAY, if one came.
        var goAway: UInt32?
        var advertisedMaxConcurrentStreams: Int?
    }

    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
    private var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
    private var received = ByteBuffer()
    private var state = State()

    static func with<R>(port: Int, _ body: (inout RawHTTP2Connection) async throws -> R) async throws -> R {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = RawHTTP2Connection(iterator: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    private init(iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.iterator = iterator
        self.outbound = outbound
    }

    /// Writes `frames` in one write (after the client preface and an empty SETTINGS frame if `preface`).
    mutating func send(preface: Bool = false, _ frames: [Frame]) async throws {
        var buffer = ByteBuffer()
        if preface {
            buffer.writeString("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            Self.writeFrame(type: 0x4, flags: 0, stream: 0, payload: ByteBuffer(), to: &buffer)
        }
        for frame in frames {
            switch frame {
            case .headers(let stream, let endStream):
                let headers: HPACKHeaders = [
                    ":method": "POST", ":scheme": "http", ":path": "/aeroarc.registry.v1.AeroRegistry/ListRelays",
                    ":authority": "localhost", "content-type": "application/grpc", "te": "trailers",
                ]
                var block = ByteBuffer()
                try self.encoder.encode(headers: headers, to: &block)
                // END_HEADERS, and END_STREAM if asked.
                Self.writeFrame(type: 0x1, flags: 0x4 | (endStream ? 0x1 : 0), stream: stream, payload: block, to: &buffer)
            case .emptyMessage(let stream):
                // gRPC framing: not compressed, length 0.
                Self.writeFrame(type: 0x0, flags: 0x1, stream: stream, payload: ByteBuffer(bytes: [0, 0, 0, 0, 0]), to: &buffer)
            case .settingsAcknowledgement:
                Self.writeFrame(type: 0x4, flags: 0x1, stream: 0, payload: ByteBuffer(), to: &buffer)
            }
        }
        try await self.outbound.write(buffer)
    }

    /// Reads until `done` holds for what the server has said, or the connection closes,
    /// or 20 seconds pass; returns the state either way.
    mutating func receive(until done: (State) -> Bool) async throws -> State {
        let deadline = ContinuousClock.now + .seconds(20)
        while !done(self.state), self.state.goAway == nil, ContinuousClock.now < deadline {
            guard var bytes = try await self.iterator.next() else { break }
            self.received.writeBuffer(&bytes)
            try self.parseFrames()
        }
        return self.state
    }

    private mutating func parseFrames() throws {
        while self.received.readableBytes >= 9, let header = self.received.getBytes(at: self.received.readerIndex, length: 9) {
            let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
            guard self.received.readableBytes >= 9 + length else { return }
            self.received.moveReaderIndex(forwardBy: 9)
            guard var payload = self.received.readSlice(length: length) else { return }
            let type = header[3]
            let flags = header[4]
            let stream = Int(UInt32(header[5]) << 24 | UInt32(header[6]) << 16 | UInt32(header[7]) << 8 | UInt32(header[8])) & 0x7fff_ffff
            switch type {
            case 0x1:  // HEADERS: response headers, or trailers when they end the stream.
                let headers = try self.decoder.decodeHeaders(from: &payload)
                if flags & 0x1 != 0 {
                    self.state.completed[stream] = headers.first(name: "grpc-status") ?? "missing"
                }
            case 0x3:  // RST_STREAM
                let code = payload.readInteger(as: UInt32.self) ?? 0
                if code == 0x7 {
                    self.state.refused.insert(stream)
                } else {
                    self.state.reset[stream] = code
                }
            case 0x4 where flags & 0x1 == 0:  // SETTINGS
                while let identifier = payload.readInteger(as: UInt16.self), let value = payload.readInteger(as: UInt32.self) {
                    if identifier == 0x3 {
                        self.state.advertisedMaxConcurrentStreams = Int(value)
                    }
                }
            case 0x7:  // GOAWAY
                _ = payload.readInteger(as: UInt32.self)
                self.state.goAway = payload.readInteger(as: UInt32.self) ?? 0
            default:
                break
            }
        }
    }

    private static func writeFrame(type: UInt8, flags: UInt8, stream: Int, payload: ByteBuffer, to buffer: inout ByteBuffer) {
        let length = payload.readableBytes
        buffer.writeBytes([UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags])
        buffer.writeInteger(UInt32(stream))
        var payload = payload
        buffer.writeBuffer(&payload)
    }
}
