import NIOCore
import NIOHTTP1
import NIOPosix
public import RegistryCore
import Synchronization

/// An in-test HTTP server that answers the subset of Consul's HTTP API v1 the Consul
/// backend uses, written from Consul's public API documentation, with faults on demand.
///
/// Modelled (see ``ConsulDoubleStore`` for the KV semantics):
/// - `GET /v1/kv/<key>` with `?recurse`, `?keys` (and `separator`), 404 when nothing
///   matches; `PUT /v1/kv/<key>` with `?cas=` and `?flags=`; `DELETE /v1/kv/<key>` with
///   `?recurse` and `?cas=`; values base64 in JSON; `X-Consul-Index`, `X-Consul-KnownLeader`
///   and `X-Consul-LastContact` headers on reads.
/// - `PUT /v1/txn`: KV verbs `set`, `cas`, `get`, `get-or-empty`, `get-tree`, `check-index`,
///   `check-not-exists`, `delete`, `delete-tree`, `delete-cas`; all or nothing; 200 with
///   `Results`, 409 with `Errors` (`OpIndex`, `What`); 413 past 64 operations; read-only
///   transactions take no index.
/// - `GET /v1/status/leader`.
/// - Consistency parameters: `?consistent` and `?stale` are accepted (one server: every
///   read is consistent) and rejected together with 400, as Consul does.
/// - `?dc=`: only this double's datacenter (``datacenter``); another answers 500 "No path
///   to datacenter".
/// - ACL tokens: when ``requiredToken`` is set, requests without it (`X-Consul-Token`) get
///   403 "Permission denied", and with another token 403 "ACL not found"; ``deny(pathPrefix:)``
///   stands for a policy that does not cover some endpoints.
/// - Sessions: `PUT /v1/session/create` (`TTL` 10s–24h, `Behavior` release or delete,
///   `LockDelay`), `renew` (404 when gone), `destroy`, `GET /v1/session/info`; TTLs run on
///   the injected clock (share the backend's ``ManualClock``) and invalidate a session at
///   exactly its TTL; KV `?acquire=` and `?release=` with `LockIndex` and `Session`.
/// - Faults (``Fault``): refused connections, stalled requests, slow answers, HTTP 500 or
///   429, no leader.
///
/// Not modelled: session health checks (`NodeChecks`/`ServiceChecks` are accepted and
/// ignored; nodes are not checked), session lists by node, the transaction verbs `lock`,
/// `unlock` and `check-session`; blocking queries (`?index=`/`?wait=`); `?raw`; namespaces
/// and partitions; ACL policies beyond one all-powerful token; the catalog, health, agent
/// and other endpoints; multiple servers, Raft, leader elections and stale reads; size
/// limits on values and request bodies; tombstone reaping; Consul's invalidation of
/// sessions up to twice their TTL late (here: exactly at the TTL).
public final class ConsulDouble: Sendable {
    /// A failure to act out.
    public enum Fault: Sendable, Equatable {
        /// Nothing listens on the port: connections are refused (and open ones are closed).
        case refuseConnections
        /// Requests are read and never answered.
        case stall
        /// Answers come after this delay.
        case delay(Duration)
        /// Every request is answered with this status (500: "No cluster leader", 429: "rate limit exceeded").
        case status(Int)
        /// The cluster has no leader: the status endpoint answers "" and KV requests 500.
        case noLeader
    }

    /// The datacenter this double is.
    public let datacenter = "dc1"
    /// The token every request must carry, if any.
    public let requiredToken: String?
    /// The clock session TTLs run on.
    public let clock: any WallClock

    let state: Mutex<State>
    /// The double's own event loop: its work (say, encoding 100,000 entries) never blocks
    /// the shared loops that the backend's HTTP client and gRPC use.
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    struct State {
        var store = ConsulDoubleStore()
        var fault: Fault?
        var server: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var port = 0
        var requests: [String] = []
        var deniedPaths: [String] = []
        var stopped = false
    }

    private init(requiredToken: String?, clock: any WallClock) {
        self.requiredToken = requiredToken
        self.clock = clock
        self.state = Mutex(State())
    }

    /// Starts a double on 127.0.0.1 and an ephemeral port.
    public static func start(requiredToken: String? = nil, clock: any WallClock = SystemWallClock()) async throws -> ConsulDouble {
        let double = ConsulDouble(requiredToken: requiredToken, clock: clock)
        try await double.listen(port: 0)
        return double
    }

    /// Runs `body` with a started double, then stops it.
    public static func with<Result: Sendable>(
        requiredToken: String? = nil,
        clock: any WallClock = SystemWallClock(),
        _ body: (ConsulDouble) async throws -> Result
    ) async throws -> Result {
        let double = try await Self.start(requiredToken: requiredToken, clock: clock)
        do {
            let result = try await body(double)
            await double.stop()
            return result
        } catch {
            await double.stop()
            throw error
        }
    }

    /// The base URL to give the backend: `http://127.0.0.1:<port>`.
    public var address: String {
        "http://127.0.0.1:\(self.port)"
    }

    public var port: Int {
        self.state.withLock { $0.port }
    }

    /// Requests received so far.
    public var requestCount: Int {
        self.state.withLock { $0.requests.count }
    }

    /// Every request received so far, as "METHOD /path?query".
    public var requestLog: [String] {
        self.state.withLock { $0.requests }
    }

    /// A copy of the KV state.
    public var store: ConsulDoubleStore {
        self.state.withLock { $0.store }
    }

    /// Changes the KV state directly (tests seed or inspect entries with it).
    public func withStore<Result>(_ body: (inout ConsulDoubleStore) -> Result) -> Result {
        self.state.withLock { body(&$0.store) }
    }

    /// Answers 403 "Permission denied" to requests whose path starts with `pathPrefix`, as
    /// Consul does for a token whose policy does not cover them.
    public func deny(pathPrefix: String) {
        self.state.withLock { $0.deniedPaths.append(pathPrefix) }
    }

    /// Starts acting out `fault` (nil: behave again). Refusing closes the listening socket
    /// and every connection; behaving again listens on the same port.
    public func inject(_ fault: Fault?) async throws {
        let (previous, toClose): (Fault?, [any Channel]) = self.state.withLock { state in
            let previous = state.fault
            state.fault = fault
            guard fault == .refuseConnections, previous != .refuseConnections else { return (previous, []) }
            var channels = Array(state.connections.values)
            if let server = state.server {
                channels.append(server)
            }
            state.server = nil
            state.connections = [:]
            return (previous, channels)
        }
        for channel in toClose {
            try? await channel.close()
        }
        if previous == .refuseConnections, fault != .refuseConnections {
            try await self.listen(port: self.port)
        }
    }

    /// Stops listening and closes every connection.
    public func stop() async {
        let channels: [any Channel] = self.state.withLock { state in
            state.stopped = true
            var channels = Array(state.connections.values)
            if let server = state.server {
                channels.append(server)
            }
            state.server = nil
            state.connections = [:]
            return channels
        }
        for channel in channels {
            try? await channel.close()
        }
        try? await self.group.shutdownGracefully()
    }

    private func listen(port: Int) async throws {
        let server = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ConsulDoubleHandler(double: self))
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        let stale: (any Channel)? = self.state.withLock { state in
            if state.stopped { return server }
            state.server = server
            state.port = server.localAddress?.port ?? port
            return nil
        }
        if let stale {
            try? await stale.close()
        }
    }

    // MARK: Connections, for the handler

    func opened(_ channel: any Channel) -> Bool {
        self.state.withLock { state in
            guard state.fault != .refuseConnections, !state.stopped else { return false }
            state.connections[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func closed(_ channel: any Channel) {
        _ = self.state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}
