import NIOCore
import NIOEmbedded
import NIOTestUtils
@testable import RESP
import Testing

@Suite("RESP2 reply decoder")
struct RESPValueDecoderTests {
    /// Every reply type, with its wire bytes.
    static let replies: [(wire: String, value: RESPValue)] = [
        ("+OK\r\n", .simpleString("OK")),
        ("+\r\n", .simpleString("")),
        ("-ERR unknown command 'FOO'\r\n", .error("ERR unknown command 'FOO'")),
        ("-NOSCRIPT No matching script.\r\n", .error("NOSCRIPT No matching script.")),
        (":0\r\n", .integer(0)),
        (":1767225600000\r\n", .integer(1_767_225_600_000)),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(.max)),
        (":-9223372036854775808\r\n", .integer(.min)),
        ("$0\r\n\r\n", .bulkString("")),
        ("$5\r\nhello\r\n", .bulkString("hello")),
        ("$8\r\na\r\nb\r\n\r\n\r\n", .bulkString("a\r\nb\r\n\r\n")),
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("*0\r\n", .array([])),
        ("*3\r\n:1\r\n$2\r\nab\r\n+x\r\n", .array([.integer(1), .bulkString("ab"), .simpleString("x")])),
        (
            "*2\r\n*2\r\n$-1\r\n*0\r\n*1\r\n-ERR inner\r\n",
            .array([.array([.null, .array([])]), .array([.error("ERR inner")])])
        ),
        ("*1\r\n*1\r\n*1\r\n*1\r\n:7\r\n", .array([.array([.array([.array([.integer(7)])])])])),
        ("$6\r\n\u{1F681}\r\n\r\n", .bulkString("\u{1F681}\r\n")),
    ]

    @Test("every reply type decodes however the stream is split in two", arguments: Self.replies.indices)
    func everySplit(_ index: Int) throws {
        let (wire, expected) = Self.replies[index]
        let bytes = Array(wire.utf8)
        for split in 0...bytes.count {
            var decoder = RESPValueDecoder()
            var buffer = ByteBuffer(bytes: bytes[..<split])
            let early = try decoder.decode(buffer: &buffer)
            if split < bytes.count {
                #expect(early == nil, "split at \(split) produced a value early")
                buffer.writeBytes(bytes[split...])
                let value = try decoder.decode(buffer: &buffer)
                #expect(value == expected, "split at \(split)")
            } else {
                #expect(early == expected)
            }
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test("the NIO verifier accepts the decoder: byte by byte, all at once, in any order")
    func verifier() throws {
        let pairs = Self.replies.map { (ByteBuffer(string: $0.wire), [$0.value]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { RESPValueDecoder() }
    }

    @Test("a pipelined burst of replies in one read comes out whole and in order")
    func pipelinedBurst() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPValueDecoder()))
        var burst = ByteBuffer()
        var expected: [RESPValue] = []
        for index in 0..<2_000 {
            let reply = Self.replies[index % Self.replies.count]
            burst.writeString(reply.wire)
            expected.append(reply.value)
        }
        // Delivered in reads that cut replies at arbitrary places.
        var offset = 0
        var chunk = 1
        while let slice = burst.getSlice(at: offset, length: min(chunk, burst.readableBytes - offset)), slice.readableBytes > 0 {
            try channel.writeInbound(slice)
            offset += slice.readableBytes
            chunk = chunk * 7 % 4093 + 1
        }
        var decoded: [RESPValue] = []
        while let value: RESPValue = try channel.readInbound() {
            decoded.append(value)
        }
        #expect(decoded == expected)
        #expect(try channel.finish().isClean)
    }

    @Test("large replies arriving in small reads are scanned once, not again per read")
    func largeReplyIncrementally() throws {
        var wire = ByteBuffer()
        let count = 5_000
        wire.writeString("*\(count)\r\n")
        for index in 0..<count {
            let text = "member-\(index)"
            wire.writeString("$\(text.utf8.count)\r\n\(text)\r\n")
        }
        var decoder = RESPValueDecoder()
        var buffer = ByteBuffer()
        var result: RESPValue?
        while wire.readableBytes > 0 {
            var piece = wire.readSlice(length: min(97, wire.readableBytes))!
            buffer.writeBuffer(&piece)
            if let value = try decoder.decode(buffer: &buffer) {
                result = value
            }
            // Complete elements are consumed as they arrive: at most one partial element stays buffered.
            #expect(buffer.readableBytes < 120)
        }
        #expect(result?.array?.count == count)
        #expect(result?.array?.last == .bulkString("member-\(count - 1)"))
    }

    static let malformed: [(wire: String, problem: String)] = [
        ("?what\r\n", "unknown RESP2 type byte"),
        (":12a\r\n", "invalid integer"),
        (":\r\n", "invalid integer"),
        (":-\r\n", "invalid integer"),
        (":99999999999999999999\r\n", "invalid integer"),
        (":9223372036854775808\r\n", "invalid integer"),
        ("$-2\r\n", "bulk string length -2"),
        ("$abc\r\nabc\r\n", "invalid bulk string length"),
        ("$3\r\nabcd\r\n", "not followed by CRLF"),
        ("*-2\r\n", "array length -2"),
        ("*1\r\n!\r\n", "unknown RESP2 type byte"),
        ("+OK\rX\r\n", "CR not followed by LF"),
        ("*2\r\n:1\r\n$1\r\nxyz", "not followed by CRLF"),
        (":-9223372036854775809\r\n", "invalid integer"),
    ]

    @Test("malformed input is rejected with a protocol violation naming the problem", arguments: Self.malformed.indices)
    func rejectsMalformed(_ index: Int) {
        let (wire, problem) = Self.malformed[index]
        var decoder = RESPValueDecoder()
        var buffer = ByteBuffer(string: wire)
        do {
            let value = try decoder.decode(buffer: &buffer)
            Issue.record("decoded \(String(describing: value)) from \(wire.debugDescription)")
        } catch let error as RESPError {
            #expect(error.code == .protocolViolation)
            #expect(error.message.contains(problem), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    static let limits = RESPDecodingLimits(
        maximumBulkStringLength: 16,
        maximumArrayLength: 4,
        maximumDepth: 3,
        maximumLineLength: 32,
        maximumReplyBytes: 64
    )

    static let oversized: [(wire: String, problem: String)] = [
        ("$17\r\n", "bulk string length 17"),
        ("*5\r\n", "array length 5"),
        ("*1\r\n*1\r\n*1\r\n*1\r\n", "nested more than 3 deep"),
        ("+" + String(repeating: "x", count: 40), "longer than 32 bytes"),
        ("-" + String(repeating: "x", count: 33) + "\r\n", "longer than 32 bytes"),
        ("*4\r\n$16\r\n0123456789abcdef\r\n$16\r\n0123456789abcdef\r\n$16\r\n", "larger than 64 bytes"),
    ]

    @Test("input beyond the limits is rejected before it is buffered", arguments: Self.oversized.indices)
    func rejectsOversized(_ index: Int) {
        let (wire, problem) = Self.oversized[index]
        var decoder = RESPValueDecoder(limits: Self.limits)
        var buffer = ByteBuffer(string: wire)
        do {
            let value = try decoder.decode(buffer: &buffer)
            Issue.record("decoded \(String(describing: value)) from \(wire.debugDescription)")
        } catch let error as RESPError {
            #expect(error.code == .protocolViolation)
            #expect(error.message.contains(problem), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("values within the limits still decode")
    func withinLimits() throws {
        var decoder = RESPValueDecoder(limits: Self.limits)
        var buffer = ByteBuffer(string: "*2\r\n$16\r\n0123456789abcdef\r\n*1\r\n*1\r\n:1\r\n")
        let value = try decoder.decode(buffer: &buffer)
        #expect(value == .array([.bulkString("0123456789abcdef"), .array([.array([.integer(1)])])]))
    }
}
