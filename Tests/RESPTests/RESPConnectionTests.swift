import NIOCore
import NIOEmbedded
@testable import RESP
import Testing

/// The connection's request/reply matching and timeouts, over an in-memory channel.
@Suite("RESP connection over a testing channel", .timeLimit(.minutes(1)))
struct RESPConnectionTests {
    func withConnection(
        timeout: Duration = .seconds(2),
        _ body: (RESPConnection, NIOAsyncTestingChannel) async throws -> Void
    ) async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379))
        let configuration = RESPConnectionConfiguration(host: "127.0.0.1", port: 6379, commandTimeout: timeout)
        let connection = try await RESPConnection.wrapping(channel, configuration: configuration)
        try await body(connection, channel)
        _ = try? await channel.finish()
    }

    @Test("concurrent commands are written at once and answered in order, however replies are split")
    func pipelining() async throws {
        try await self.withConnection { connection, channel in
            let first = Task { try await connection.send(RawCommand("GET", "a")) }
            let written1 = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            let second = Task { try await connection.send(RawCommand("GET", "b")) }
            let written2 = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            #expect(String(buffer: written1) == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
            #expect(String(buffer: written2) == "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
            // Both replies arrive, cut in the middle of the second.
            try await channel.writeInbound(ByteBuffer(string: "$1\r\nA\r\n$1"))
            try await channel.writeInbound(ByteBuffer(string: "\r\nB\r\n"))
            #expect(try await first.value == .bulkString("A"))
            #expect(try await second.value == .bulkString("B"))
        }
    }

    @Test("a batch goes out in one write and its replies, errors included, come back in order")
    func batch() async throws {
        try await self.withConnection { connection, channel in
            let replies = Task { try await connection.pipeline([["PING"], ["NOPE"], ["PING"]]) }
            let written = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            #expect(String(buffer: written) == "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nNOPE\r\n*1\r\n$4\r\nPING\r\n")
            try await channel.writeInbound(ByteBuffer(string: "+PONG\r\n-ERR unknown command 'NOPE'\r\n+PONG\r\n"))
            #expect(try await replies.value == [.simpleString("PONG"), .error("ERR unknown command 'NOPE'"), .simpleString("PONG")])
        }
    }

    @Test("an error reply is thrown as a server error by the typed API")
    func serverError() async throws {
        try await self.withConnection { connection, channel in
            let reply = Task { try await connection.send(PingCommand()) }
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            try await channel.writeInbound(ByteBuffer(string: "-NOAUTH Authentication required.\r\n"))
            let error = await failure { try await reply.value }
            #expect(error?.code == .serverError)
            #expect(error?.serverErrorPrefix == "NOAUTH")
        }
    }

    @Test("EVALSHA answered NOSCRIPT loads the script and runs it again in one write")
    func noscript() async throws {
        try await self.withConnection { connection, channel in
            let script = RESPScript("return 7")
            let result = Task { try await connection.evaluate(script, keys: [], arguments: []) }
            let first = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            #expect(String(buffer: first) == "*3\r\n$7\r\nEVALSHA\r\n$40\r\n\(script.sha1)\r\n$1\r\n0\r\n")
            try await channel.writeInbound(ByteBuffer(string: "-NOSCRIPT No matching script. Please use EVAL.\r\n"))
            let retry = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            #expect(String(buffer: retry) == "*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$8\r\nreturn 7\r\n*3\r\n$7\r\nEVALSHA\r\n$40\r\n\(script.sha1)\r\n$1\r\n0\r\n")
            try await channel.writeInbound(ByteBuffer(string: "$40\r\n\(script.sha1)\r\n:7\r\n"))
            #expect(try await result.value == .integer(7))
        }
    }

    @Test("a command without a reply within the timeout fails every waiting command and closes the connection")
    func timeout() async throws {
        try await self.withConnection(timeout: .seconds(2)) { connection, channel in
            let first = Task { try await connection.send(PingCommand()) }
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            await channel.testingEventLoop.advanceTime(by: .seconds(1))
            let second = Task { try await connection.send(PingCommand()) }
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            await channel.testingEventLoop.advanceTime(by: .milliseconds(1_001))
            for error in [await failure { try await first.value }, await failure { try await second.value }] {
                #expect(error?.code == .timeout)
                #expect(error?.message == "redis at 127.0.0.1:6379 did not answer within 2s")
            }
            #expect(!connection.isActive)
            let later = await failure { try await connection.send(PingCommand()) }
            #expect(later?.code == .connectionClosed)
        }
    }

    @Test("malformed bytes from the server fail the waiting commands and close the connection")
    func malformed() async throws {
        try await self.withConnection { connection, channel in
            let reply = Task { try await connection.send(PingCommand()) }
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            _ = try? await channel.writeInbound(ByteBuffer(string: "%2\r\n"))
            let error = await failure { try await reply.value }
            #expect(error?.code == .protocolViolation)
            #expect(error?.message.contains("unknown RESP2 type byte 0x25") == true)
            #expect(!connection.isActive)
        }
    }

    @Test("a connection closed by the server fails what waits and refuses what comes after")
    func closedByServer() async throws {
        try await self.withConnection { connection, channel in
            let reply = Task { try await connection.send(PingCommand()) }
            _ = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            try await channel.close()
            let waiting = await failure { try await reply.value }
            #expect(waiting?.code == .connectionClosed)
            let later = await failure { try await connection.send(PingCommand()) }
            #expect(later?.code == .connectionClosed)
        }
    }
}

/// The RESP error `body` throws, or nil (recording an issue) when it succeeds.
func failure<T>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async -> RESPError? {
    do {
        let value = try await body()
        Issue.record("expected an error, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch {
        guard let error = error as? RESPError else {
            Issue.record("expected a RESPError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
        return error
    }
}
