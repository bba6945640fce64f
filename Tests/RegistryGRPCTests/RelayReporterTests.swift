import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import RegistryBackendMemory
import RegistryClient
import RegistryCore
import RegistryGRPC
import RegistryServer
import RegistryTestKit
import Synchronization
import Testing

/// The relay reporter against the real server: placement, renewal, moves, relay restarts,
/// a store outage, a server restart, and a server without the fleet service.
@Suite("Relay reporter", .timeLimit(.minutes(2)))
struct RelayReporterTests {
    static let configuration: RelayReporter.Configuration = {
        var configuration = RelayReporter.Configuration(relayID: "relay-1", address: "10.0.0.1", grpcPort: 7000)
        configuration.fallbackInterval = .milliseconds(50)
        configuration.initialBackoff = .milliseconds(20)
        configuration.maximumBackoff = .milliseconds(200)
        configuration.callTimeout = .seconds(2)
        // The other tests stop their reporters after their servers: nothing to deregister.
        configuration.deregisterOnShutdown = false
        return configuration
    }()

    /// Runs a reporter on `grpc` while `body` runs.
    func withReporter<R: Sendable>(
        _ grpc: GRPCClient<HTTP2ClientTransport.Posix>,
        moved: Recorder? = nil,
        _ body: (RelayReporter) async throws -> R
    ) async throws -> R {
        let reporter = RelayReporter(client: grpc, configuration: Self.configuration) { agent, relay in
            moved?.values.withLock { $0.append("\(agent)->\(relay)") }
        }
        let task = Task { await reporter.run() }
        defer { task.cancel() }
        return try await body(reporter)
    }

    @Test("connected agents are placed and renewed; a disconnected one is left to expire")
    func placesAndRenews() async throws {
        let clock = ManualClock()
        try await withRunningRegistry(harness: MemoryHarness(clock: clock), configure: { $0.heartbeatInterval = .milliseconds(50) }) { server in
            try await self.withReporter(server.grpc) { reporter in
                await reporter.agentConnected("drone-1")
                await reporter.agentConnected("drone-2")
                try await eventually(timeout: .seconds(20)) { try await server.client.listAgents().entries.map(\.id.rawValue) == ["drone-1", "drone-2"] }
                #expect(try await server.client.placement(of: "drone-1").placement.relayID.rawValue == "relay-1")
                await reporter.agentDisconnected("drone-2")
                // A sync in flight may still renew drone-2; wait until one started after.
                let syncs = await reporter.completedSyncs
                try await eventually(timeout: .seconds(20)) { await reporter.completedSyncs >= syncs + 2 }
                clock.advance(by: .seconds(20))
                let renewedAt = clock.now()
                try await eventually(timeout: .seconds(20)) {
                    try await server.client.listAgents().entries.first { $0.id.rawValue == "drone-1" }?.lastHeartbeat == renewedAt
                }
                clock.advance(by: .seconds(15))
                // drone-2 was last renewed 35 s ago (TTL 30 s); drone-1 20 s ago at most.
                try await eventually(timeout: .seconds(20)) { try await server.client.listAgents().entries.map(\.id.rawValue) == ["drone-1"] }
                #expect(await reporter.mode == .fleet)
            }
        }
    }

    @Test("a reporter that stops deregisters its relay: consumers stop routing to it at once")
    func deregistersOnShutdown() async throws {
        try await withRunningRegistry(harness: MemoryHarness(clock: ManualClock()), configure: { $0.heartbeatInterval = .milliseconds(50) }) { server in
            var configuration = Self.configuration
            configuration.deregisterOnShutdown = true
            let reporter = RelayReporter(client: server.grpc, configuration: configuration)
            let task = Task { await reporter.run() }
            await reporter.agentConnected("drone-1")
            try await eventually(timeout: .seconds(20)) { try await server.client.listAgents().entries.map(\.id.rawValue) == ["drone-1"] }
            task.cancel()
            await task.value
            // No time passed on the manual clock: only the deregistration can have ended them.
            #expect(try await server.client.listRelays().entries.isEmpty)
            #expect(try await server.client.listAgents().entries.isEmpty)
        }
    }

    @Test("an agent placed on another relay is reported to the relay and never placed back")
    func movedAgentIsNotStolenBack() async throws {
        try await withRunningRegistry(configure: { $0.heartbeatInterval = .milliseconds(50) }) { server in
            let moved = Recorder()
            try await self.withReporter(server.grpc, moved: moved) { reporter in
                await reporter.agentConnected("drone-1")
                try await eventually(timeout: .seconds(20)) { (try? await server.client.placement(of: "drone-1").placement.relayID.rawValue) == "relay-1" }
                try await server.client.registerRelay(id: "relay-2", address: "10.0.0.2", grpcPort: 7000)
                try await server.client.registerAgent(id: "drone-1", relayID: "relay-2")
                try await eventually(timeout: .seconds(20)) { moved.values.withLock { $0 } == ["drone-1->relay-2"] }
                let syncs = await reporter.completedSyncs
                try await eventually(timeout: .seconds(20)) { await reporter.completedSyncs >= syncs + 3 }
                #expect(try await server.client.placement(of: "drone-1").placement.relayID.rawValue == "relay-2")
                #expect(await reporter.connectedAgents.isEmpty)
            }
        }
    }

    @Test("a relay that expired starts anew and places its connected agents again at once")
    func relayRestart() async throws {
        let clock = ManualClock()
        try await withRunningRegistry(harness: MemoryHarness(clock: clock), configure: { $0.heartbeatInterval = .seconds(10) }) { server in
            try await self.withReporter(server.grpc) { reporter in
                await reporter.agentConnected("drone-1")
                try await eventually(timeout: .seconds(20)) { try await server.client.listAgents().entries.count == 1 }
                // The server applies the sync before the reporter has read its answer.
                try await eventually(timeout: .seconds(20)) { await reporter.incarnation != nil }
                let first = try #require(await reporter.incarnation)
                // It waits the server's hint (~10 s here) before syncing again: no busy loop.
                let syncs = await reporter.completedSyncs
                try await Task.sleep(for: .milliseconds(300))
                #expect(await reporter.completedSyncs == syncs)
                // The relay's TTL passes with no sync (the server's hint is ~10 s of real time).
                clock.advance(by: .seconds(31))
                await reporter.agentConnected("drone-2")  // wakes the reporter early
                try await eventually(timeout: .seconds(20)) { try await server.client.listAgents().entries.map(\.id.rawValue) == ["drone-1", "drone-2"] }
                #expect(await reporter.incarnation != first)
            }
        }
    }

    @Test("a store outage is retried with backoff and recovered from without losing agents")
    func storeOutage() async throws {
        let backend = FaultyBackend()
        try await withRunningRegistry(backend: backend, configure: { $0.heartbeatInterval = .milliseconds(50) }) { server in
            backend.inject(.fail(RegistryError.unavailable("test store is down")))
            try await self.withReporter(server.grpc) { reporter in
                await reporter.agentConnected("drone-1")
                try await Task.sleep(for: .milliseconds(300))
                #expect(await reporter.completedSyncs == 0)
                backend.release()
                try await eventually(timeout: .seconds(20)) { (try? await server.client.listAgents().entries.map(\.id.rawValue)) == ["drone-1"] }
            }
        }
    }

    @Test("after a server restart that lost its state, the relay and its agents are registered again")
    func serverRestart() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = ServerConfiguration()
        configuration.listenAddress = "127.0.0.1"
        configuration.listenPort = 0
        configuration.heartbeatInterval = .milliseconds(50)
        configuration.shutdownTimeout = .seconds(2)
        let first = try RegistryApplication(configuration: configuration, backend: MemoryBackend(ttl: .default), logger: logger)
        let firstRun = Task { try await first.run() }
        let port = try await first.listeningPort()
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        try await withGRPCClient(transport: transport) { grpc in
            let client = RegistryClient(wrapping: grpc, timeout: .seconds(2))
            try await self.withReporter(grpc) { reporter in
                await reporter.agentConnected("drone-1")
                try await eventually(timeout: .seconds(20)) { (try? await client.listAgents().entries.count) == 1 }
                await first.triggerGracefulShutdown()
                try await firstRun.value
                configuration.listenPort = port
                let second = try RegistryApplication(configuration: configuration, backend: MemoryBackend(ttl: .default), logger: logger)
                let secondRun = Task { try await second.run() }
                defer { secondRun.cancel() }
                try await eventually(timeout: .seconds(30)) { (try? await client.listAgents().entries.map(\.id.rawValue)) == ["drone-1"] }
                #expect(try await client.placement(of: "drone-1").placement.relayID.rawValue == "relay-1")
                await second.triggerGracefulShutdown()
            }
        }
    }

    @Test("against a server without the fleet service it falls back to v1 calls with the same behaviour")
    func fallsBackToV1() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let registry = Registry(backend: MemoryBackend(ttl: .default), logger: logger)
        // Only v1, as the Go registry serves it.
        let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
        let server = GRPCServer(transport: transport, services: [AeroRegistryService(registry: registry)])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            defer { server.beginGracefulShutdown() }
            let port = try #require(try await transport.listeningAddress.ipv4?.port)
            let client = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
            try await withGRPCClient(transport: client) { grpc in
                let v1 = RegistryClient(wrapping: grpc)
                let moved = Recorder()
                try await self.withReporter(grpc, moved: moved) { reporter in
                    await reporter.agentConnected("drone-1")
                    await reporter.agentConnected("drone-2")
                    try await eventually(timeout: .seconds(20)) { try await v1.listAgents().entries.map(\.id.rawValue) == ["drone-1", "drone-2"] }
                    #expect(await reporter.mode == .v1Fallback)
                    try await v1.registerRelay(id: "relay-2", address: "10.0.0.2", grpcPort: 7000)
                    try await v1.registerAgent(id: "drone-2", relayID: "relay-2")
                    try await eventually(timeout: .seconds(20)) { moved.values.withLock { $0 } == ["drone-2->relay-2"] }
                    let syncs = await reporter.completedSyncs
                    try await eventually(timeout: .seconds(20)) { await reporter.completedSyncs >= syncs + 3 }
                    #expect(try await v1.placement(of: "drone-2").placement.relayID.rawValue == "relay-2")
                    #expect(try await v1.placement(of: "drone-1").placement.relayID.rawValue == "relay-1")
                }
            }
        }
    }
}

/// Strings recorded from callbacks.
final class Recorder: Sendable {
    let values = Mutex<[String]>([])
}
