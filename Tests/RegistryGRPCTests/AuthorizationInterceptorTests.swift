import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import RegistryBackendMemory
import RegistryCore
import RegistryGRPC
import RegistryProtos
import Synchronization
import Testing

/// The tokens of the policy the server starts with.
private let startPolicy = AccessPolicy(
    tokens: [
        TokenDigest(of: "reader-token"): Grant(role: .reader),
        TokenDigest(of: "relay-1-token"): Grant(role: .relay, relayIDs: [.exact("relay-1")]),
        TokenDigest(of: "eu-token"): Grant(role: .relay, relayIDs: [.prefix("relay-eu-")]),
        TokenDigest(of: "admin-token"): Grant(role: .admin),
    ]
)

private func bearer(_ token: String) -> Metadata {
    ["authorization": "Bearer \(token)"]
}

@Suite("Authorization interceptor")
struct AuthorizationInterceptorTests {
    @Test("without a credential: reads are UNAUTHENTICATED, health stays open")
    func anonymous() async throws {
        try await withAuthorizedRegistry { server in
            let error = await expectRPCError(.unauthenticated) { try await server.registry.listRelays(.init()) }
            #expect(error?.message.contains("no credential") == true)
            await expectRPCError(.unauthenticated) { try await server.registry.registerRelay(relayRequest("relay-1")) }
            let status = try await server.health.check(.init()).status
            #expect(status == .serving)
            // Open health ignores credentials altogether, even unusable ones.
            let withBadToken = try await server.health.check(.init(), metadata: bearer("guessed-token")).status
            #expect(withBadToken == .serving)
        }
    }

    @Test("protectHealth makes health a read")
    func protectedHealth() async throws {
        try await withAuthorizedRegistry(protectHealth: true) { server in
            await expectRPCError(.unauthenticated) { try await server.health.check(.init()) }
            let status = try await server.health.check(.init(), metadata: bearer("reader-token")).status
            #expect(status == .serving)
        }
    }

    @Test("an unknown token and a malformed header are UNAUTHENTICATED, and the token is never echoed")
    func badTokens() async throws {
        try await withAuthorizedRegistry { server in
            let error = await expectRPCError(.unauthenticated) {
                try await server.registry.listRelays(.init(), metadata: bearer("guessed-token"))
            }
            #expect(error?.message == "the bearer token is not recognised")
            await expectRPCError(.unauthenticated) {
                try await server.registry.listRelays(.init(), metadata: ["authorization": "Basic YWRtaW4="])
            }
            await expectRPCError(.unauthenticated) {
                try await server.registry.listRelays(.init(), metadata: ["authorization": "admin-token"])
            }
            let lines = server.log.lines
            #expect(lines.count == 3)
            #expect(!lines.joined().contains("guessed-token"))
            #expect(lines.first?.contains("code=UNAUTHENTICATED") == true)
            #expect(lines.first?.contains("caller=token sha256:\(TokenDigest(of: "guessed-token").hex.prefix(8))") == true)
        }
    }

    @Test("a reader reads everything and writes nothing")
    func reader() async throws {
        try await withAuthorizedRegistry { server in
            let reader = bearer("reader-token")
            _ = try await server.registry.listRelays(.init(), metadata: reader)
            _ = try await server.registry.listAgents(.init(), metadata: reader)
            await expectRPCError(.notFound) { try await server.registry.getAgentPlacement(.with { $0.agentID = "a" }, metadata: reader) }
            _ = try await server.fleet.getPlacements(.with { $0.agentIds = ["a"] }, metadata: reader)
            _ = try await server.fleet.listPlacements(.init(), metadata: reader)
            _ = try await server.fleet.listRelayStatuses(.init(), metadata: reader)
            _ = try await server.admin.getStatus(.init(), metadata: reader)

            let error = await expectRPCError(.permissionDenied) { try await server.registry.registerRelay(relayRequest("relay-1"), metadata: reader) }
            #expect(error?.message == "role reader may not register relay relay-1 (reader is read-only)")
            #expect(try await server.registry.listRelays(.init(), metadata: reader).relays.isEmpty)
        }
    }

    @Test("a relay writes for its own relays only, and a denied write changes nothing")
    func relay() async throws {
        try await withAuthorizedRegistry { server in
            let relay1 = bearer("relay-1-token")
            let admin = bearer("admin-token")
            _ = try await server.registry.registerRelay(relayRequest("relay-1"), metadata: relay1)
            _ = try await server.registry.heartbeatRelay(.with { $0.relayID = "relay-1" }, metadata: relay1)
            _ = try await server.registry.registerAgent(agentRequest("drone-1", on: "relay-1"), metadata: relay1)
            _ = try await server.registry.heartbeatAgent(.with { $0.agentID = "drone-1"; $0.relayID = "relay-1" }, metadata: relay1)
            _ = try await server.fleet.syncRelay(.with { $0.relayID = "relay-1" }, metadata: relay1)
            _ = try await server.registry.registerRelay(relayRequest("relay-2"), metadata: admin)

            var error = await expectRPCError(.permissionDenied) { try await server.registry.registerRelay(relayRequest("relay-2"), metadata: relay1) }
            #expect(error?.message == "role relay (relay-1) may not register relay relay-2")
            await expectRPCError(.permissionDenied) { try await server.registry.heartbeatRelay(.with { $0.relayID = "relay-2" }, metadata: relay1) }
            await expectRPCError(.permissionDenied) { try await server.fleet.syncRelay(.with { $0.relayID = "relay-2"; $0.placeAgentIds = ["drone-1"] }, metadata: relay1) }
            error = await expectRPCError(.permissionDenied) { try await server.registry.registerAgent(agentRequest("drone-1", on: "relay-2"), metadata: relay1) }
            #expect(error?.message == "role relay (relay-1) may not register agent drone-1 on relay relay-2")
            error = await expectRPCError(.permissionDenied) { try await server.registry.heartbeatAgent(.with { $0.agentID = "drone-1" }, metadata: relay1) }
            #expect(error?.message.contains("without a relay_id") == true)
            await expectRPCError(.permissionDenied) { try await server.admin.deregisterRelay(.with { $0.relayID = "relay-2" }, metadata: relay1) }
            await expectRPCError(.permissionDenied) { try await server.admin.deregisterAgent(.with { $0.agentID = "drone-1" }, metadata: relay1) }
            await expectRPCError(.permissionDenied) { try await server.admin.drainRelay(.with { $0.relayID = "relay-1" }, metadata: relay1) }
            await expectRPCError(.permissionDenied) { try await server.admin.undrainRelay(.with { $0.relayID = "relay-1" }, metadata: relay1) }

            // Nothing the denied calls asked for happened.
            let placement = try await server.registry.getAgentPlacement(.with { $0.agentID = "drone-1" }, metadata: relay1).placement
            #expect(placement.relayID == "relay-1")
            let statuses = try await server.fleet.listRelayStatuses(.init(), metadata: relay1).relays
            #expect(statuses.map(\.relayID) == ["relay-1", "relay-2"])
            #expect(statuses.allSatisfy { !$0.draining })

            // Its own relay's agent it may deregister, naming its relay.
            _ = try await server.admin.deregisterAgent(.with { $0.agentID = "drone-1"; $0.relayID = "relay-1" }, metadata: relay1)
            await expectRPCError(.notFound) { try await server.registry.getAgentPlacement(.with { $0.agentID = "drone-1" }, metadata: relay1) }

            let lines = server.log.lines
            #expect(lines.count == 9)
            #expect(lines.allSatisfy { $0.contains("code=PERMISSION_DENIED") && $0.contains("caller=token sha256:") })
            #expect(lines.first?.contains("method=aeroarc.registry.v1.AeroRegistry/RegisterRelay") == true)
            #expect(lines.first?.contains("relay_id=relay-2") == true)
            #expect(!lines.joined().contains("relay-1-token"))
        }
    }

    @Test("a relay prefix pattern owns the relays it matches")
    func prefix() async throws {
        try await withAuthorizedRegistry { server in
            let eu = bearer("eu-token")
            _ = try await server.registry.registerRelay(relayRequest("relay-eu-3"), metadata: eu)
            await expectRPCError(.permissionDenied) { try await server.registry.registerRelay(relayRequest("relay-us-1"), metadata: eu) }
            #expect(try await server.registry.listRelays(.init(), metadata: eu).relays.map(\.relayID) == ["relay-eu-3"])
        }
    }

    @Test("admin may do everything, drains included; handlers see the caller")
    func admin() async throws {
        try await withAuthorizedRegistry { server in
            let admin = bearer("admin-token")
            _ = try await server.registry.registerRelay(relayRequest("relay-9"), metadata: admin)
            _ = try await server.admin.drainRelay(.with { $0.relayID = "relay-9" }, metadata: admin)
            #expect(try await server.fleet.listRelayStatuses(.init(), metadata: admin).relays.first?.draining == true)
            _ = try await server.admin.undrainRelay(.with { $0.relayID = "relay-9" }, metadata: admin)
            _ = try await server.admin.deregisterRelay(.with { $0.relayID = "relay-9" }, metadata: admin)
            #expect(try await server.registry.listRelays(.init(), metadata: admin).relays.isEmpty)
            #expect(server.log.lines.isEmpty)
            let adminCaller = "token \(TokenDigest(of: "admin-token"))"
            #expect(server.callers.values.withLock { $0 } == Array(repeating: adminCaller, count: 6))
        }
    }

    @Test("replacing the policy applies to the next call")
    func reload() async throws {
        try await withAuthorizedRegistry { server in
            _ = try await server.registry.listRelays(.init(), metadata: bearer("reader-token"))
            server.store.replace(AccessPolicy(tokens: [TokenDigest(of: "new-token"): Grant(role: .reader)]))
            await expectRPCError(.unauthenticated) { try await server.registry.listRelays(.init(), metadata: bearer("reader-token")) }
            _ = try await server.registry.listRelays(.init(), metadata: bearer("new-token"))
        }
    }
}

private func relayRequest(_ id: String) -> Aeroarc_Registry_V1_RegisterRelayRequest {
    .with {
        $0.relay.relayID = id
        $0.relay.address = "10.0.0.1"
        $0.relay.grpcPort = 7000
    }
}

private func agentRequest(_ id: String, on relayID: String) -> Aeroarc_Registry_V1_RegisterAgentRequest {
    .with {
        $0.agent.agentID = id
        $0.relayID = relayID
    }
}

/// A registry served behind the authorization interceptor, and its clients.
private struct AuthorizedRegistry: Sendable {
    let grpc: GRPCClient<HTTP2ClientTransport.Posix>
    let store: AccessPolicyStore
    /// The denial lines logged.
    let log: CapturedLog
    /// The caller each handled call saw in `AccessPolicy.Caller.current`.
    let callers: CallerProbe

    var registry: Aeroarc_Registry_V1_AeroRegistry.Client<HTTP2ClientTransport.Posix> { .init(wrapping: self.grpc) }
    var fleet: Aeroarc_Registry_Fleet_V1_FleetRegistry.Client<HTTP2ClientTransport.Posix> { .init(wrapping: self.grpc) }
    var admin: Aeroarc_Registry_Fleet_V1_RegistryAdmin.Client<HTTP2ClientTransport.Posix> { .init(wrapping: self.grpc) }
    var health: Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix> { .init(wrapping: self.grpc) }
}

/// Serves the registry on 127.0.0.1:0 with `policy`, runs `body`, then shuts the server down.
private func withAuthorizedRegistry<Result: Sendable>(
    policy: AccessPolicy = startPolicy,
    protectHealth: Bool = false,
    _ body: (AuthorizedRegistry) async throws -> Result
) async throws -> Result {
    let log = CapturedLog()
    let logger = Logger(label: "auth-test") { _ in CapturingLogHandler(log: log) }
    var quiet = Logger(label: "test")
    quiet.logLevel = .critical
    let backend = MemoryBackend(ttl: .default)
    let registry = Registry(backend: backend, logger: quiet)
    let store = AccessPolicyStore(policy)
    let callers = CallerProbe()
    let admin = RegistryAdminService(
        registry: registry,
        census: FleetCensus(registry: registry, logger: quiet),
        settings: .init(
            version: "test",
            backendName: "memory",
            startedAt: SystemWallClock().now(),
            limits: CapacityLimits(),
            outageGraceMax: .zero,
            staleReads: false
        )
    )
    let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
    let server = GRPCServer(
        transport: transport,
        services: [
            AeroRegistryService(registry: registry),
            FleetRegistryService(registry: registry, heartbeatInterval: .seconds(10)),
            admin,
            HealthService(backendHealth: backend.health),
        ],
        interceptors: [AuthorizationInterceptor(store: store, protectHealth: protectHealth, logger: logger), callers]
    )
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve() }
        let port = try #require(try await transport.listeningAddress.ipv4?.port)
        let client = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        let result: Result
        do {
            result = try await withGRPCClient(transport: client) { grpc in
                try await body(AuthorizedRegistry(grpc: grpc, store: store, log: log, callers: callers))
            }
        } catch {
            server.beginGracefulShutdown()
            throw error
        }
        server.beginGracefulShutdown()
        try await group.waitForAll()
        return result
    }
}

/// Records `AccessPolicy.Caller.current` of every call that reaches it (it runs inside the
/// authorization interceptor), skipping health.
private final class CallerProbe: ServerInterceptor {
    let values = Mutex<[String]>([])

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if context.descriptor.service != Grpc_Health_V1_Health.descriptor {
            let caller = AccessPolicy.Caller.current?.description ?? "none"
            self.values.withLock { $0.append(caller) }
        }
        return try await next(request, context)
    }
}

/// Log lines at notice and above, as `message key=value …` with sorted keys.
private final class CapturedLog: Sendable {
    private let storage = Mutex<[String]>([])

    var lines: [String] { self.storage.withLock { $0 } }

    func append(_ line: String) {
        self.storage.withLock { $0.append(line) }
    }
}

private struct CapturingLogHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .notice

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        self.log.append(([event.message.description] + fields).joined(separator: " "))
    }
}
