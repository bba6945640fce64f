public import Logging
public import NIOCore
import NIOPosix
import Synchronization

/// A bounded set of pipelined connections to one Redis server.
///
/// At most ``Configuration/size`` connections are open; requests are spread over them
/// round-robin and pipelined on each. Connections open on first use, inside the calling
/// request (no background task is needed), and again after they close. After a failed
/// attempt the pool backs off (``ReconnectBackoff``): requests that would need a new
/// connection during the delay fail at once with ``RESPError/Code/backingOff``, so that
/// callers learn promptly that the server is unreachable; the first request after the
/// delay tries again.
public final class RESPConnectionPool: Sendable {
    /// How many connections, to where, and how to back off.
    public struct Configuration: Sendable {
        public var connection: RESPConnectionConfiguration
        /// The most connections open at once.
        public var size: Int
        public var backoff: ReconnectBackoff

        public init(connection: RESPConnectionConfiguration, size: Int = 4, backoff: ReconnectBackoff = ReconnectBackoff()) {
            self.connection = connection
            self.size = max(size, 1)
            self.backoff = backoff
        }
    }

    public let configuration: Configuration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state: Mutex<StateMachine<RESPConnection, EventLoopPromise<RESPConnection>>>

    /// - Parameter eventLoopGroup: by default NIO's shared one.
    public init(
        configuration: Configuration,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        self.logger = logger
        self.state = Mutex(
            StateMachine(size: configuration.size, backoff: configuration.backoff, peer: configuration.connection.peerDescription)
        )
    }

    /// "redis at host:port", for messages.
    public var peer: String {
        self.configuration.connection.peerDescription
    }

    /// Sends a command on one of the pool's connections and waits for its reply.
    public func send<Command: RESPCommand>(_ command: Command) async throws(RESPError) -> Command.Response {
        try await self.connection().send(command)
    }

    /// Sends several commands in one write on one connection; see ``RESPConnection/pipeline(_:)``.
    public func pipeline(_ commands: [[RESPArgument]]) async throws(RESPError) -> [RESPValue] {
        try await self.connection().pipeline(commands)
    }

    /// Runs a Lua script; see ``RESPConnection/evaluate(_:keys:arguments:)``.
    public func evaluate(_ script: RESPScript, keys: [RESPArgument], arguments: [RESPArgument]) async throws(RESPError) -> RESPValue {
        try await self.connection().evaluate(script, keys: keys, arguments: arguments)
    }

    /// Closes every connection; later requests fail with ``RESPError/Code/poolClosed``.
    /// Safe to call more than once.
    public func close() async {
        let open = self.state.withLock { $0.close() }
        for connection in open {
            await connection.close()
        }
    }

    /// Connections currently open, for tests and diagnostics.
    public var openConnectionCount: Int {
        self.state.withLock { state in
            state.slots.reduce(0) { count, slot in
                if case .connected(let connection) = slot, connection.isActive {
                    return count + 1
                }
                return count
            }
        }
    }

    /// An open connection: a held one, one being opened by another request, or a new one.
    private func connection() async throws(RESPError) -> RESPConnection {
        let eventLoopGroup = self.eventLoopGroup
        let action = self.state.withLock { state in
            state.lease(
                now: .now(),
                isOpen: { $0.isActive },
                makeAttempt: { eventLoopGroup.next().makePromise(of: RESPConnection.self) }
            )
        }
        switch action {
        case .use(let connection):
            return connection
        case .fail(let error):
            throw error
        case .wait(let attempt):
            do {
                return try await attempt.futureResult.get()
            } catch let error as RESPError {
                throw error
            } catch {
                throw RESPError(.connectFailed, "cannot connect to \(self.peer)", underlying: error)
            }
        case .connect(let slot):
            return try await self.open(slot: slot)
        }
    }

    private func open(slot: Int) async throws(RESPError) -> RESPConnection {
        let connection: RESPConnection
        do {
            connection = try await RESPConnection.connect(self.configuration.connection, eventLoopGroup: self.eventLoopGroup)
        } catch {
            let (attempt, delay) = self.state.withLock {
                $0.connectFailed(slot: slot, error, now: .now(), random: Double.random(in: 0..<1))
            }
            attempt?.fail(error)
            self.logger.debug(
                "redis connection attempt failed",
                metadata: ["peer": "\(self.peer)", "error": "\(error.message)", "retry_in": "\(delay)"]
            )
            throw error
        }
        let (attempt, closeIt) = self.state.withLock { $0.connected(slot: slot, connection) }
        if closeIt {
            await connection.close()
            let error = self.state.withLock { $0.closedError }
            attempt?.fail(error)
            throw error
        }
        connection.channel.closeFuture.whenComplete { [weak self] _ in
            self?.state.withLock { $0.connectionClosed { $0 === connection } }
        }
        self.logger.debug("redis connection opened", metadata: ["peer": "\(self.peer)", "slot": "\(slot)"])
        attempt?.succeed(connection)
        return connection
    }
}
