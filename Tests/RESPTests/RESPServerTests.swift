import Foundation
import Logging
import NIOCore
import RESP
import RegistryTestKit
import Testing

/// The client against a real `redis-server` started for these tests.
@Suite("RESP client against redis-server", .timeLimit(.minutes(1)))
struct RESPServerTests {
    static let logger = Logger(label: "resp-test") { _ in SwiftLogNoOpLogHandler() }

    func shared() async throws -> RedisServer {
        try await RedisServerFixture.shared(suite: "resp")
    }

    @Test("script SHA-1s match the server's, and EVALSHA reloads a flushed script by itself")
    func scripts() async throws {
        let server = try await RedisServer.start()
        defer { Task { await server.stop() } }
        try await server.withConnection { connection in
            let script = RESPScript("return {KEYS[1], ARGV[1], 'é'}")
            let loaded = try await connection.send(ScriptLoadCommand(source: script.source))
            #expect(loaded == script.sha1)
            let result = try await connection.evaluate(script, keys: ["k"], arguments: ["a"])
            #expect(result == .array([.bulkString("k"), .bulkString("a"), .bulkString("é")]))
            // The server forgets its scripts (as after a restart): EVALSHA answers NOSCRIPT, and is retried.
            _ = try await connection.send(RawCommand("SCRIPT", "FLUSH"))
            let again = try await connection.evaluate(script, keys: ["k2"], arguments: ["b"])
            #expect(again == .array([.bulkString("k2"), .bulkString("b"), .bulkString("é")]))
        }
    }

    @Test("thousands of concurrent commands pipelined on one connection each get their own reply")
    func pipelinedBurst() async throws {
        let server = try await self.shared()
        try await server.withConnection { connection in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<5_000 {
                    group.addTask {
                        let reply = try await connection.send(RawCommand("ECHO", RESPArgument("message-\(index)")))
                        #expect(reply == .bulkString("message-\(index)"))
                    }
                }
                try await group.waitForAll()
            }
            let batch = try await connection.pipeline((0..<1_000).map { ["ECHO", RESPArgument($0)] })
            #expect(batch == (0..<1_000).map { .bulkString("\($0)") })
        }
    }

    @Test("AUTH with an ACL user and SELECT run when connecting; a wrong password fails the connection")
    func authAndSelect() async throws {
        let server = try await RedisServer.start(extraArguments: ["--requirepass", "admin-pw", "--user", "registry", "on", ">s3cret", "~*", "+@all"])
        defer { Task { await server.stop() } }
        var configuration = server.connectionConfiguration()
        configuration.username = "registry"
        configuration.password = "s3cret"
        configuration.database = 3
        let connection = try await RESPConnection.connect(configuration)
        _ = try await connection.send(RawCommand("SET", "where", "db3"))
        #expect(try await connection.send(RawCommand("ACL", "WHOAMI")) == .bulkString("registry"))
        await connection.close()

        var other = server.connectionConfiguration()
        other.password = "admin-pw"
        let defaultUser = try await RESPConnection.connect(other)
        #expect(try await defaultUser.send(RawCommand("GET", "where")) == .null)
        _ = try await defaultUser.send(SelectCommand(database: 3))
        #expect(try await defaultUser.send(RawCommand("GET", "where")) == .bulkString("db3"))
        await defaultUser.close()

        configuration.password = "wrong"
        do {
            _ = try await RESPConnection.connect(configuration)
            Issue.record("expected the connection to fail")
        } catch {
            #expect(error.code == .connectFailed)
            #expect(error.message.contains("WRONGPASS"), "\(error.message)")
            #expect(error.message.contains("redis at 127.0.0.1:\(server.port)"))
        }
    }

    @Test("a server that stops answering fails commands within the command timeout")
    func hungServer() async throws {
        let server = try await RedisServer.start()
        defer {
            server.signal(SIGCONT)
            Task { await server.stop() }
        }
        var configuration = server.connectionConfiguration()
        configuration.commandTimeout = .milliseconds(300)
        let connection = try await RESPConnection.connect(configuration)
        server.signal(SIGSTOP)
        let started = ContinuousClock.now
        let error = await failure { try await connection.send(PingCommand()) }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .timeout)
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(2), "\(elapsed)")
        try await connection.channel.closeFuture.get()
    }

    @Test("connecting to a port nobody listens on fails at once, naming the server")
    func refused() async throws {
        let server = try await RedisServer.start()
        let port = server.port
        await server.stop()
        do {
            _ = try await RESPConnection.connect(RESPConnectionConfiguration(host: "127.0.0.1", port: port))
            Issue.record("expected a failure")
        } catch {
            #expect(error.code == .connectFailed)
            #expect(error.message.hasPrefix("cannot connect to redis at 127.0.0.1:\(port)"), "\(error.message)")
        }
    }

    @Test("the pool never opens more connections than its size, however many requests are in flight")
    func poolBound() async throws {
        let server = try await RedisServer.start()
        defer { Task { await server.stop() } }
        let pool = RESPConnectionPool(configuration: .init(connection: server.connectionConfiguration(), size: 3), logger: Self.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<500 {
                group.addTask {
                    let reply = try await pool.send(RawCommand("ECHO", RESPArgument(index)))
                    #expect(reply == .bulkString("\(index)"))
                }
            }
            try await group.waitForAll()
        }
        #expect(pool.openConnectionCount == 3)
        let clients = try await pool.send(RawCommand("CLIENT", "LIST")).string ?? ""
        #expect(clients.split(separator: "\n").count == 3)
        await pool.close()
        let closed = await failure { try await pool.send(PingCommand()) }
        #expect(closed?.code == .poolClosed)
    }

    @Test("the pool fails fast while the server is down and reconnects by itself when it is back")
    func poolReconnects() async throws {
        let server = try await RedisServer.start()
        let port = server.port
        let backoff = ReconnectBackoff(initial: .milliseconds(50), maximum: .milliseconds(400))
        let pool = RESPConnectionPool(configuration: .init(connection: server.connectionConfiguration(), size: 2, backoff: backoff), logger: Self.logger)
        #expect(try await pool.send(PingCommand()) == "PONG")
        #expect(try await pool.send(PingCommand()) == "PONG")

        server.signal(SIGKILL)
        await server.stop()
        var codes: [RESPError.Code] = []
        let started = ContinuousClock.now
        for _ in 0..<6 {
            if let error = await failure({ try await pool.send(PingCommand()) }) {
                codes.append(error.code)
            }
        }
        #expect(ContinuousClock.now - started < .seconds(1), "failures must be prompt")
        #expect(codes.contains(.backingOff), "\(codes)")
        #expect(codes.allSatisfy { [.connectionClosed, .connectFailed, .backingOff].contains($0) }, "\(codes)")

        let restarted = try await RedisServer.start(port: port)
        defer { Task { await restarted.stop() } }
        let deadline = ContinuousClock.now + .seconds(5)
        var recovered = false
        while ContinuousClock.now < deadline {
            if (try? await pool.send(PingCommand())) == "PONG" {
                recovered = true
                break
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(recovered)
        await pool.close()
    }
}
