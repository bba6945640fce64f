import RegistryCore
import Synchronization

/// Fails every operation with one error.
struct ThrowingBackend: RegistryBackend {
    let error: any Error & Sendable
    var ttl: TTLPolicy { .default }
    var expiry: ExpiryMode { .sweep }
    var health: HealthReporter { HealthReporter() }

    func run() async throws {}
    func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult { throw self.error }
    func heartbeatRelay(_ id: RelayID) async throws -> Relay { throw self.error }
    func listRelays() async throws -> Snapshot<Relay> { throw self.error }
    func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult { throw self.error }
    func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement { throw self.error }
    func listAgents() async throws -> Snapshot<Agent> { throw self.error }
    func placement(of id: AgentID) async throws -> AgentPlacement { throw self.error }
    func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult { throw self.error }
    func placements(of ids: [AgentID]) async throws -> PlacementLookup { throw self.error }
    func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> { throw self.error }
    func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> { throw self.error }
    func removeExpired(limit: Int) async throws -> ExpiryReport { throw self.error }
    func deregisterRelay(_ id: RelayID) async throws -> Int { throw self.error }
    func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws { throw self.error }
    func setDraining(_ id: RelayID, _ draining: Bool) async throws { throw self.error }
}

/// Pretends to hold `expired` expired agents and counts removal calls.
final class CountingBackend: RegistryBackend {
    private let state: Mutex<(expired: Int, calls: Int)>
    init(expired: Int) { self.state = Mutex((expired, 0)) }
    var calls: Int { self.state.withLock { $0.calls } }

    var ttl: TTLPolicy { .default }
    var expiry: ExpiryMode { .sweep }
    var health: HealthReporter { HealthReporter() }
    func run() async throws {}
    func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult { throw RegistryError.internalError("unused") }
    func heartbeatRelay(_ id: RelayID) async throws -> Relay { throw RegistryError.internalError("unused") }
    func listRelays() async throws -> Snapshot<Relay> { throw RegistryError.internalError("unused") }
    func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult { throw RegistryError.internalError("unused") }
    func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement { throw RegistryError.internalError("unused") }
    func listAgents() async throws -> Snapshot<Agent> { throw RegistryError.internalError("unused") }
    func placement(of id: AgentID) async throws -> AgentPlacement { throw RegistryError.internalError("unused") }
    func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult { throw RegistryError.internalError("unused") }
    func placements(of ids: [AgentID]) async throws -> PlacementLookup { throw RegistryError.internalError("unused") }
    func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> { throw RegistryError.internalError("unused") }
    func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> { throw RegistryError.internalError("unused") }
    func deregisterRelay(_ id: RelayID) async throws -> Int { throw RegistryError.internalError("unused") }
    func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws { throw RegistryError.internalError("unused") }
    func setDraining(_ id: RelayID, _ draining: Bool) async throws { throw RegistryError.internalError("unused") }

    func removeExpired(limit: Int) async throws -> ExpiryReport {
        self.state.withLock { state in
            state.calls += 1
            let removed = min(limit, state.expired)
            state.expired -= removed
            return ExpiryReport(agentsRemoved: removed)
        }
    }
}
