public import RegistryCore
import ServiceLifecycle
import Synchronization

/// The embedded backend: everything in this process's memory, lost when it exits.
///
/// Reads evaluate liveness exactly at read time. Expired entries are reclaimed by
/// ``removeExpired(limit:)`` (run by the server's ``ExpirySweeper``) in
/// O(expired) time thanks to a deadline-ordered index, and whenever a capacity limit
/// is reached. All state sits behind one mutex held only for in-memory work: never
/// across I/O, and lists are sorted after it is released.
///
/// Generic over its clock so that tests move time instead of sleeping.
public final class MemoryBackend<Clock: WallClock>: RegistryBackend {
    public let ttl: TTLPolicy
    public let limits: CapacityLimits
    public let expiry = ExpiryMode.sweep
    public let health = HealthReporter(.serving)
    private let clock: Clock
    private let state: Mutex<MemoryRegistryState>

    public init(ttl: TTLPolicy, limits: CapacityLimits = CapacityLimits(), clock: Clock) {
        self.ttl = ttl
        self.limits = limits
        self.clock = clock
        self.state = Mutex(MemoryRegistryState(ttl: ttl, limits: limits))
    }

    /// Nothing to connect or run: waits for shutdown.
    public func run() async throws {
        try? await gracefulShutdown()
    }

    public func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult {
        let now = self.clock.now().rawValue
        return try self.state.withLock { state throws(RegistryError) in
            try state.registerRelay(registration, now: now)
        }
    }

    public func heartbeatRelay(_ id: RelayID) async throws -> Relay {
        let now = self.clock.now().rawValue
        return try self.state.withLock { state throws(RegistryError) in
            try state.heartbeatRelay(id, now: now)
        }
    }

    public func listRelays() async throws -> Snapshot<Relay> {
        let now = self.clock.now()
        var relays = self.state.withLock { $0.liveRelays(now: now.rawValue) }
        relays.sortByIdentifier(\.id)
        return Snapshot(entries: relays, asOf: now)
    }

    public func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult {
        let now = self.clock.now().rawValue
        return try self.state.withLock { state throws(RegistryError) in
            try state.registerAgent(id, on: relayID, now: now)
        }
    }

    public func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement {
        let now = self.clock.now().rawValue
        return try self.state.withLock { state throws(RegistryError) in
            try state.heartbeatAgent(id, expectedRelayID: expectedRelayID, now: now)
        }
    }

    public func listAgents() async throws -> Snapshot<Agent> {
        let now = self.clock.now()
        var agents = self.state.withLock { $0.liveAgents(now: now.rawValue) }
        agents.sortByIdentifier(\.id)
        return Snapshot(entries: agents, asOf: now)
    }

    public func placement(of id: AgentID) async throws -> AgentPlacement {
        let now = self.clock.now().rawValue
        return try self.state.withLock { state throws(RegistryError) in
            try state.placement(of: id, now: now)
        }
    }

    public func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult {
        let now = self.clock.now().rawValue
        return try self.state.withLock { state throws(RegistryError) in
            try state.syncRelay(sync, now: now)
        }
    }

    public func placements(of ids: [AgentID]) async throws -> PlacementLookup {
        let now = self.clock.now().rawValue
        return self.state.withLock { $0.placements(of: ids, now: now) }
    }

    public func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> {
        let now = self.clock.now().rawValue
        return self.state.withLock { $0.listPlacements(relayID: relayID, after: after, limit: limit, now: now) }
    }

    public func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> {
        let now = self.clock.now().rawValue
        return self.state.withLock { $0.listRelayStatuses(after: after, limit: limit, now: now) }
    }

    public func removeExpired(limit: Int) async throws -> ExpiryReport {
        let now = self.clock.now().rawValue
        return self.state.withLock { $0.removeExpired(now: now, limit: limit) }
    }

    /// Relays and agents stored, live or not yet reclaimed.
    public var storedCounts: (relays: Int, agents: Int) {
        self.state.withLock { ($0.relays.count, $0.agents.count) }
    }
}

extension MemoryBackend where Clock == SystemWallClock {
    /// A backend on the system clock.
    public convenience init(ttl: TTLPolicy, limits: CapacityLimits = CapacityLimits()) {
        self.init(ttl: ttl, limits: limits, clock: SystemWallClock())
    }
}

extension MemoryBackend: CustomStringConvertible {
    public var description: String { "MemoryBackend" }
}
