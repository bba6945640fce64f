import Logging
import RegistryBackendMemory
import RegistryCore
import RegistryTestKit
import Synchronization
import Testing

/// A memory backend whose store can be "unreachable": every operation then fails
/// UNAVAILABLE, as a remote backend's would.
final class OutageBackend: RegistryBackend {
    let inner: MemoryBackend<ManualClock>
    let health = HealthReporter(.serving)
    private let down = Mutex(false)

    init(clock: ManualClock, ttl: TTLPolicy) {
        self.inner = MemoryBackend(ttl: ttl, clock: clock)
    }

    var ttl: TTLPolicy { self.inner.ttl }
    var expiry: ExpiryMode { self.inner.expiry }

    func setDown(_ isDown: Bool) {
        self.down.withLock { $0 = isDown }
        self.health.report(isDown ? .notServing(reason: "down") : .serving)
    }

    private func reach() throws(RegistryError) {
        if self.down.withLock({ $0 }) { throw .unavailable("the store is down") }
    }

    func run() async throws {}
    func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult { try self.reach(); return try await self.inner.registerRelay(registration) }
    func heartbeatRelay(_ id: RelayID) async throws -> Relay { try self.reach(); return try await self.inner.heartbeatRelay(id) }
    func listRelays() async throws -> Snapshot<Relay> { try self.reach(); return try await self.inner.listRelays() }
    func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult { try self.reach(); return try await self.inner.registerAgent(id, on: relayID) }
    func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement { try self.reach(); return try await self.inner.heartbeatAgent(id, expectedRelayID: expectedRelayID) }
    func listAgents() async throws -> Snapshot<Agent> { try self.reach(); return try await self.inner.listAgents() }
    func placement(of id: AgentID) async throws -> AgentPlacement { try self.reach(); return try await self.inner.placement(of: id) }
    func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult { try self.reach(); return try await self.inner.syncRelay(sync) }
    func placements(of ids: [AgentID]) async throws -> PlacementLookup { try self.reach(); return try await self.inner.placements(of: ids) }
    func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> { try self.reach(); return try await self.inner.listPlacements(relayID: relayID, after: after, limit: limit) }
    func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> { try self.reach(); return try await self.inner.listRelayStatuses(after: after, limit: limit) }
    func removeExpired(limit: Int) async throws -> ExpiryReport { try self.reach(); return try await self.inner.removeExpired(limit: limit) }
    func deregisterRelay(_ id: RelayID) async throws -> Int { try self.reach(); return try await self.inner.deregisterRelay(id) }
    func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws { try self.reach(); try await self.inner.deregisterAgent(id, from: relayID) }
    func setDraining(_ id: RelayID, _ draining: Bool) async throws { try self.reach(); try await self.inner.setDraining(id, draining) }
}

@Suite("Placement reads through a store outage")
struct StaleReadTests {
    let clock = ManualClock()
    let ttl: TTLPolicy
    let backend: OutageBackend

    init() throws {
        self.ttl = try TTLPolicy(relayTTL: .seconds(3), agentTTL: .seconds(3))
        self.backend = OutageBackend(clock: self.clock, ttl: self.ttl)
    }

    func registry(graceMax: Duration = .seconds(10), capacity: Int = 100) -> Registry {
        Registry(
            backend: self.backend,
            staleReads: StaleReadCache(ttl: self.ttl, graceMax: graceMax, capacity: capacity, clock: self.clock),
            logger: Logger(label: "test")
        )
    }

    /// relay-1 with drone-1 registered at the clock's start; then the store goes down
    /// after `before`, and a first failed call marks the outage's start.
    func placeAndFail(_ registry: Registry, after before: Duration) async throws {
        _ = try await registry.registerRelay(RelayRegistration(id: try RelayID(validating: "relay-1"), endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)))
        _ = try await registry.registerAgent(try AgentID(validating: "drone-1"), on: try RelayID(validating: "relay-1"))
        self.clock.advance(by: before)
        self.backend.setDown(true)
        await #expect(throws: RegistryError.self) { try await registry.heartbeatRelay(try RelayID(validating: "relay-1")) }
    }

    @Test("an agent live when the outage began is answered, flagged with its age, until its deadline plus the grace bound")
    func answeredUnderGrace() async throws {
        let registry = self.registry(graceMax: .seconds(4))
        try await self.placeAndFail(registry, after: .seconds(1))
        let id = try AgentID(validating: "drone-1")
        // 2 s left when the outage began: answered while the outage lasts, up to 2 + 4 s.
        self.clock.advance(by: .seconds(5))
        let (placement, age) = try await registry.placementAllowingStale(of: id)
        #expect(placement.relayID.rawValue == "relay-1")
        #expect(age == .seconds(6))
        self.clock.advance(by: .milliseconds(1_100))
        await #expect(throws: RegistryError.self) { try await registry.placementAllowingStale(of: id) }
    }

    @Test("an agent already expired when the outage began is not answered")
    func expiredBeforeOutage() async throws {
        let registry = self.registry()
        try await self.placeAndFail(registry, after: .seconds(4))
        let error = await #expect(throws: RegistryError.self) { try await registry.placementAllowingStale(of: try AgentID(validating: "drone-1")) }
        #expect(error?.code == .unavailable)
    }

    @Test("an agent this replica never confirmed, or saw NOT_FOUND, is UNAVAILABLE, never a guess")
    func unknownIsUnavailable() async throws {
        let registry = self.registry()
        _ = try await registry.registerRelay(RelayRegistration(id: try RelayID(validating: "relay-1"), endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)))
        await #expect(throws: RegistryError.self) { try await registry.placement(of: try AgentID(validating: "drone-2")) }
        self.backend.setDown(true)
        let error = await #expect(throws: RegistryError.self) { try await registry.placementAllowingStale(of: try AgentID(validating: "drone-2")) }
        #expect(error?.code == .unavailable)
    }

    @Test("GetPlacements is answered only when every agent can be vouched for")
    func batchAllOrNothing() async throws {
        let registry = self.registry()
        let relay = try RelayID(validating: "relay-1")
        let drones = try ["drone-1", "drone-2"].map { try AgentID(validating: $0) }
        _ = try await registry.syncRelay(RelaySync(relayID: relay, endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000), place: drones, renew: []))
        self.backend.setDown(true)
        let (lookup, age) = try await registry.placementsAllowingStale(of: drones)
        #expect(lookup.placements.map(\.agentID) == drones)
        #expect(lookup.placements.allSatisfy { $0.relayIncarnation.rawValue > 0 })
        #expect(age == .zero)
        await #expect(throws: RegistryError.self) { try await registry.placementsAllowingStale(of: drones + [try AgentID(validating: "drone-3")]) }
    }

    @Test("fresh answers carry no staleness; the cache stays within its capacity")
    func freshAndBounded() async throws {
        let registry = self.registry(capacity: 1)
        let relay = try RelayID(validating: "relay-1")
        _ = try await registry.registerRelay(RelayRegistration(id: relay, endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)))
        _ = try await registry.registerAgent(try AgentID(validating: "drone-1"), on: relay)
        _ = try await registry.registerAgent(try AgentID(validating: "drone-2"), on: relay)
        #expect(try await registry.placementAllowingStale(of: try AgentID(validating: "drone-1")).staleAge == nil)
        self.backend.setDown(true)
        _ = try await registry.placementAllowingStale(of: try AgentID(validating: "drone-1"))
        await #expect(throws: RegistryError.self) { try await registry.placementAllowingStale(of: try AgentID(validating: "drone-2")) }
    }
}
