import Logging
import RegistryBackendConsul
import RegistryCore
import RegistryTestKit
import ServiceLifecycle
import Testing

/// Consul down, slow, failing or rate limiting, acted out by the double: every operation
/// fails with UNAVAILABLE naming Consul within the timeout, health follows, and the same
/// backend recovers by itself.
@Suite("Consul backend under faults")
struct ConsulFaultTests {
    // Short, so that stalls cost little; long enough for a loaded CI machine to answer in time.
    static let timeout: Duration = .seconds(1)

    static let faults: [(String, ConsulDouble.Fault)] = [
        ("Consul down", .refuseConnections),
        ("Consul stalls", .stall),
        ("Consul answers 500", .status(500)),
        ("Consul answers 503", .status(503)),
        ("Consul rate limits (429)", .status(429)),
        ("Consul has no leader", .noLeader),
    ]

    @Test("every operation fails with unavailable within the timeout, then works again", arguments: faults)
    func operationsFailThenRecover(_ name: String, _ fault: ConsulDouble.Fault) async throws {
        try await withFaultyConsul { double, backend, harness in
            _ = try await backend.registerRelay(registration("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            try await double.inject(fault)
            let operations: [(String, @Sendable () async throws -> Void)] = [
                ("register relay", { _ = try await backend.registerRelay(registration("relay-b")) }),
                ("heartbeat relay", { _ = try await backend.heartbeatRelay(relayID("relay-a")) }),
                ("list relays", { _ = try await backend.listRelays() }),
                ("register agent", { _ = try await backend.registerAgent(agentID("agent-2"), on: relayID("relay-a")) }),
                ("heartbeat agent", { _ = try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: nil) }),
                ("list agents", { _ = try await backend.listAgents() }),
                ("placement", { _ = try await backend.placement(of: agentID("agent-1")) }),
                ("remove expired", { _ = try await backend.removeExpired(limit: 10) }),
            ]
            for (operation, body) in operations {
                let started = ContinuousClock.now
                do {
                    try await body()
                    Issue.record("\(operation) succeeded while \(name)")
                } catch let error as RegistryError {
                    #expect(error.code == .unavailable, "\(operation): \(error)")
                    #expect(error.message.contains(double.address), "\(operation): \(error.message)")
                } catch {
                    Issue.record("\(operation) threw \(error), not a RegistryError")
                }
                // The timeout, plus scheduling slack; a refused connection fails sooner.
                #expect(ContinuousClock.now - started < Self.timeout + .seconds(1), "\(operation)")
            }
            #expect(!backend.health.status.isServing)

            try await double.inject(nil)
            try await harness.advance(by: .milliseconds(10))
            #expect(try await backend.relayIDs() == ["relay-a"])
            _ = try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: relayID("relay-a"))
            #expect(backend.health.status == .serving)
        }
    }

    @Test("the error says what went wrong: timeout, refusal, status or rate limit")
    func messages() async throws {
        try await withFaultyConsul { double, backend, _ in
            try await double.inject(.stall)
            let stalled = await expectUnavailable { try await backend.listRelays() }
            #expect(stalled?.message.contains("did not answer") == true)
            #expect(stalled?.message.contains("within 1s") == true)
            try await double.inject(.status(429))
            #expect(await expectUnavailable { try await backend.listRelays() }?.message.contains("rate limiting") == true)
            try await double.inject(.status(500))
            #expect(await expectUnavailable { try await backend.listRelays() }?.message.contains("500") == true)
            try await double.inject(.refuseConnections)
            #expect(await expectUnavailable { try await backend.listRelays() }?.message.contains("unreachable") == true)
        }
    }

    @Test("a slow Consul that answers within the timeout is not a failure")
    func slowButInTime() async throws {
        try await withFaultyConsul { double, backend, _ in
            try await double.inject(.delay(.milliseconds(100)))
            _ = try await backend.registerRelay(registration("relay-a"))
            #expect(try await backend.relayIDs() == ["relay-a"])
        }
    }

    @Test("run() reports NOT_SERVING while Consul fails and SERVING once it answers again", arguments: faults)
    func healthFollowsConsul(_ name: String, _ fault: ConsulDouble.Fault) async throws {
        try await withFaultyConsul(probeInterval: .milliseconds(50)) { double, backend, _ in
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let group = ServiceGroup(services: [backend], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await eventually { backend.health.status == .serving }
                try await double.inject(fault)
                try await eventually(timeout: .seconds(10), "NOT_SERVING during \(name)") { !backend.health.status.isServing }
                if case .notServing(let reason) = backend.health.status {
                    #expect(reason.contains(double.address), "\(reason)")
                }
                try await double.inject(nil)
                try await eventually(timeout: .seconds(10), "SERVING after \(name) (now \(backend.health.status))") { backend.health.status == .serving }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    @Test("concurrent operations during an outage all fail cleanly, and none hangs")
    func concurrentDuringOutage() async throws {
        try await withFaultyConsul { double, backend, _ in
            _ = try await backend.registerRelay(registration("relay-a"))
            try await double.inject(.stall)
            let started = ContinuousClock.now
            let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        do {
                            _ = try await backend.registerAgent(agentID("agent-\(index)"), on: relayID("relay-a"))
                            return false
                        } catch let error as RegistryError {
                            return error.code == .unavailable
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(failures == 40)
            #expect(ContinuousClock.now - started < Self.timeout * 3 + .seconds(1))
            try await double.inject(nil)
            // Connections abandoned by the timed-out requests are closing: recovery may take a moment.
            try await eventually {
                (try? await backend.registerAgent(agentID("agent-0"), on: relayID("relay-a"))) != nil
            }
            #expect(try await backend.agentIDs() == ["agent-0"])
        }
    }
}

/// A double and a backend with a short timeout, both stopped afterwards.
func withFaultyConsul(
    probeInterval: Duration = .seconds(1),
    _ body: (ConsulDouble, ConsulBackend<ManualClock>, ConsulHarness) async throws -> Void
) async throws {
    let harness = ConsulHarness.double()
    try await ConsulDouble.with { double in
        var configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address), timeout: ConsulFaultTests.timeout)
        configuration.healthProbeInterval = probeInterval
        let ttl = try TTLPolicy(relayTTL: .seconds(30), agentTTL: .seconds(30))
        try await harness.withBackend(configuration, ttl: ttl) { backend in
            try await body(double, backend, harness)
        }
    }
}

@discardableResult
func expectUnavailable<T>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async -> RegistryError? {
    do {
        let value = try await body()
        Issue.record("expected unavailable, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as RegistryError {
        #expect(error.code == .unavailable, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a RegistryError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Polls `condition` until it holds (a state change crossing tasks, not a TTL).
func eventually(
    timeout: Duration = .seconds(5),
    _ what: String = "condition",
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("\(what) not met within \(timeout)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

func relayID(_ raw: String) -> RelayID {
    try! RelayID(validating: raw)
}

func agentID(_ raw: String) -> AgentID {
    try! AgentID(validating: raw)
}

func registration(_ raw: String, port: Int = 7000) -> RelayRegistration {
    RelayRegistration(id: relayID(raw), endpoint: try! RelayEndpoint(address: "10.0.0.1", grpcPort: port))
}

extension RegistryBackend {
    func relayIDs() async throws -> [String] {
        try await self.listRelays().entries.map(\.id.rawValue)
    }

    func agentIDs() async throws -> [String] {
        try await self.listAgents().entries.map(\.id.rawValue)
    }
}
