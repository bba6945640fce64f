public import NIOCore
import NIOPosix

/// One connection to a Redis server, shared by any number of concurrent callers.
///
/// Commands are pipelined: each is written as soon as it is sent, without waiting for
/// earlier replies, and replies are matched to requests in order. A command that gets
/// no reply within the command timeout fails with ``RESPError/Code/timeout`` and closes
/// the connection (along with everything still waiting on it), because a late reply
/// would block every reply behind it.
public final class RESPConnection: Sendable {
    /// The underlying channel.
    public let channel: any Channel
    /// "redis at host:port", for messages.
    public let peer: String
    private let handler: NIOLoopBound<RESPChannelHandler>

    private init(channel: any Channel, handler: NIOLoopBound<RESPChannelHandler>, peer: String) {
        self.channel = channel
        self.handler = handler
        self.peer = peer
    }

    /// Connects, then authenticates and selects the database as configured.
    /// - Parameter eventLoopGroup: by default NIO's shared one.
    /// - Throws: ``RESPError/Code/connectFailed`` naming the server and the cause.
    public static func connect(
        _ configuration: RESPConnectionConfiguration,
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) async throws(RESPError) -> RESPConnection {
        let peer = configuration.peerDescription
        let connection: RESPConnection
        do {
            connection = try await ClientBootstrap(group: eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(configuration.connectTimeout.clampedMilliseconds))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.socketOption(.so_keepalive), value: 1)
                .connect(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.install(on: channel, configuration)
                    }
                }
        } catch {
            throw RESPError(.connectFailed, "cannot connect to \(peer): \(Self.describe(error))", underlying: error)
        }
        do throws(RESPError) {
            var handshake: [[RESPArgument]] = []
            if let password = configuration.password {
                handshake.append(AuthCommand(username: configuration.username, password: password).arguments)
            }
            if configuration.database != 0 {
                handshake.append(SelectCommand(database: configuration.database).arguments)
            }
            if !handshake.isEmpty {
                for reply in try await connection.pipeline(handshake) {
                    if let message = reply.errorMessage {
                        throw RESPError(.serverError, message)
                    }
                }
            }
        } catch {
            await connection.close()
            throw RESPError(.connectFailed, "cannot set up the connection to \(peer): \(error.message)", underlying: error)
        }
        return connection
    }

    /// Adds the decoder and the request handler to a new channel; on its event loop.
    private static func install(on channel: any Channel, _ configuration: RESPConnectionConfiguration) throws -> RESPConnection {
        let peer = configuration.peerDescription
        let handler = RESPChannelHandler(
            commandTimeout: .milliseconds(configuration.commandTimeout.clampedMilliseconds),
            peer: peer
        )
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(RESPValueDecoder(limits: configuration.decodingLimits)),
            handler,
        ])
        return RESPConnection(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop), peer: peer)
    }

    /// Speaks RESP on a channel that is already connected, without a handshake (tests use
    /// an in-memory channel).
    static func wrapping(_ channel: any Channel, configuration: RESPConnectionConfiguration) async throws -> RESPConnection {
        try await channel.eventLoop.submit { try Self.install(on: channel, configuration) }.get()
    }

    /// Sends a command and waits for its reply.
    /// - Throws: ``RESPError``: ``RESPError/Code/serverError`` for an error reply, or a
    ///   connection failure.
    public func send<Command: RESPCommand>(_ command: Command) async throws(RESPError) -> Command.Response {
        let reply = try await self.pipeline([command.arguments])[0]
        if let message = reply.errorMessage {
            throw RESPError(.serverError, message)
        }
        return try command.decodeResponse(reply)
    }

    /// Sends several commands in one write and returns their raw replies in order; error
    /// replies are returned as ``RESPValue/error(_:)``, not thrown.
    public func pipeline(_ commands: [[RESPArgument]]) async throws(RESPError) -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        var encoder = RESPCommandEncoder(allocator: self.channel.allocator)
        for arguments in commands {
            encoder.encodeCommand(arguments)
        }
        let eventLoop = self.channel.eventLoop
        let waiters = commands.map { _ in eventLoop.makePromise(of: RESPValue.self) }
        let bytes = encoder.buffer
        let handler = self.handler
        eventLoop.execute {
            handler.value.send(bytes, waiters: waiters)
        }
        var replies: [RESPValue] = []
        replies.reserveCapacity(waiters.count)
        for waiter in waiters {
            do {
                replies.append(try await waiter.futureResult.get())
            } catch let error as RESPError {
                throw error
            } catch {
                throw RESPError(.connectionClosed, "the connection to \(self.peer) failed", underlying: error)
            }
        }
        return replies
    }

    /// Runs a Lua script with `EVALSHA`; when the server does not have it (`NOSCRIPT`),
    /// loads it with `SCRIPT LOAD` and runs it again in the same write.
    /// - Returns: the script's reply. A script error is thrown as ``RESPError/Code/serverError``.
    public func evaluate(_ script: RESPScript, keys: [RESPArgument], arguments: [RESPArgument]) async throws(RESPError) -> RESPValue {
        let command = EvalSHACommand(sha1: script.sha1, keys: keys, arguments: arguments)
        do {
            return try await self.send(command)
        } catch where error.serverErrorPrefix == "NOSCRIPT" {
            let replies = try await self.pipeline([ScriptLoadCommand(source: script.source).arguments, command.arguments])
            for reply in replies {
                if let message = reply.errorMessage {
                    throw RESPError(.serverError, message)
                }
            }
            return replies[1]
        }
    }

    /// Whether the connection is open.
    public var isActive: Bool {
        self.channel.isActive
    }

    /// Closes the connection; requests still waiting fail with ``RESPError/Code/connectionClosed``.
    public func close() async {
        try? await self.channel.close()
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? ChannelError, case .connectTimeout(let amount) = error {
            return "no connection within \(RESPChannelHandler.describe(amount))"
        }
        return "\(error)"
    }
}
