public import Logging

/// The registry's operations, on whichever backend is configured.
///
/// Transports call this, never a backend directly. It guarantees that only
/// ``RegistryError`` (or `CancellationError`) reaches them, whatever a backend throws,
/// and it logs the changes operators care about: relays appearing, relays coming back
/// after expiry, and agents moving between relays.
public struct Registry: Sendable {
    /// The storage in use.
    public let backend: any RegistryBackend
    /// What this replica confirmed, for placement reads through a store outage; nil
    /// when stale reads are off.
    public let staleReads: StaleReadCache?
    /// Where the registry's signals are recorded (nowhere by default).
    public let metrics: RegistryMetrics
    private let logger: Logger

    public init(backend: any RegistryBackend, staleReads: StaleReadCache? = nil, metrics: RegistryMetrics = .disabled, logger: Logger) {
        self.backend = backend
        self.staleReads = staleReads
        self.metrics = metrics
        self.logger = logger
    }

    /// The TTLs in force.
    public var ttl: TTLPolicy { self.backend.ttl }

    /// Creates or renews a relay. See ``RegistryBackend/registerRelay(_:)``.
    public func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult {
        let result = try await self.guarded("register_relay") {
            try await self.backend.registerRelay(registration)
        }
        self.staleReads?.confirm(relay: result.relay.id, deadline: UnixMilliseconds(result.relay.lastHeartbeat.rawValue + self.ttl.relayTTLMilliseconds))
        switch result.outcome {
        case .created:
            self.logger.info("relay registered", metadata: self.metadata(result.relay))
        case .recreated:
            self.metrics.relayRestarted()
            self.logger.info("expired relay registered again; its previous agents stay dead", metadata: self.metadata(result.relay))
        case .renewed:
            self.logger.trace("relay renewed by registration", metadata: self.metadata(result.relay))
        }
        return result
    }

    /// Renews a live relay. See ``RegistryBackend/heartbeatRelay(_:)``.
    public func heartbeatRelay(_ id: RelayID) async throws -> Relay {
        let relay = try await self.guarded("heartbeat_relay") {
            try await self.backend.heartbeatRelay(id)
        }
        self.staleReads?.confirm(relay: id, deadline: UnixMilliseconds(relay.lastHeartbeat.rawValue + self.ttl.relayTTLMilliseconds))
        return relay
    }

    /// Live relays sorted by ID.
    public func listRelays() async throws -> Snapshot<Relay> {
        try await self.guarded("list_relays") {
            try await self.backend.listRelays()
        }
    }

    /// Places an agent on a live relay. See ``RegistryBackend/registerAgent(_:on:)``.
    public func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult {
        let result = try await self.guarded("register_agent", forgetting: [id]) {
            try await self.backend.registerAgent(id, on: relayID)
        }
        self.staleReads?.confirm(agents: [id], on: relayID, lastHeartbeat: result.placement.lastUpdated)
        if let previous = result.previousRelayID {
            self.metrics.agentsMoved()
            self.logger.info(
                "agent moved between relays",
                metadata: ["agent_id": "\(id)", "from_relay_id": "\(previous)", "to_relay_id": "\(relayID)"]
            )
        } else {
            self.logger.debug("agent registered", metadata: ["agent_id": "\(id)", "relay_id": "\(relayID)"])
        }
        return result
    }

    /// Renews a live agent. See ``RegistryBackend/heartbeatAgent(_:expectedRelayID:)``.
    public func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement {
        let placement = try await self.guarded("heartbeat_agent", forgetting: [id]) {
            try await self.backend.heartbeatAgent(id, expectedRelayID: expectedRelayID)
        }
        self.staleReads?.confirm(agents: [id], on: placement.relayID, lastHeartbeat: placement.lastUpdated)
        return placement
    }

    /// Live agents sorted by ID.
    public func listAgents() async throws -> Snapshot<Agent> {
        try await self.guarded("list_agents") {
            try await self.backend.listAgents()
        }
    }

    /// The placement of a live agent.
    public func placement(of id: AgentID) async throws -> AgentPlacement {
        let placement = try await self.guarded("get_agent_placement", forgetting: [id]) {
            try await self.backend.placement(of: id)
        }
        self.staleReads?.confirm(agents: [id], on: placement.relayID, lastHeartbeat: placement.lastUpdated)
        return placement
    }

    /// The placement of a live agent; while the store is unreachable, the one this
    /// replica last confirmed, if it would still be live under the outage-grace rule,
    /// with its age (docs/degraded-operation.md).
    public func placementAllowingStale(of id: AgentID) async throws -> (placement: AgentPlacement, staleAge: Duration?) {
        do {
            return (try await self.placement(of: id), nil)
        } catch let error as RegistryError where error.code == .unavailable {
            guard let answer = self.staleReads?.placement(of: id) else { throw error }
            self.metrics.staleRead()
            return (answer.value, answer.age)
        }
    }

    // MARK: The fleet extension

    /// Syncs a relay and its agents in one call. See ``RegistryBackend/syncRelay(_:)``.
    public func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult {
        let result = try await self.guarded("sync_relay") {
            try await self.backend.syncRelay(sync)
        }
        if let cache = self.staleReads {
            cache.confirm(relay: sync.relayID, deadline: result.relayExpires, incarnation: result.incarnation)
            let lost = Set(result.lost.map(\.agentID))
            cache.forget(agents: lost)
            let kept = (sync.place + sync.renew).filter { !lost.contains($0) }
            cache.confirm(agents: kept, on: sync.relayID, lastHeartbeat: result.now)
        }
        self.metrics.agentsMoved(result.movedAgents)
        if result.relayRecreated {
            self.metrics.relayRestarted()
        }
        if result.relayStarted {
            self.logger.info(
                "relay started by sync",
                metadata: ["relay_id": "\(sync.relayID)", "incarnation": "\(result.incarnation)", "agents": "\(sync.place.count)"]
            )
        }
        if !result.lost.isEmpty {
            self.logger.debug("sync lost agents", metadata: ["relay_id": "\(sync.relayID)", "lost": "\(result.lost.count)"])
        }
        return result
    }

    /// Placements of live agents among `ids`. See ``RegistryBackend/placements(of:)``.
    public func placements(of ids: [AgentID]) async throws -> PlacementLookup {
        let lookup = try await self.guarded("get_placements") {
            try await self.backend.placements(of: ids)
        }
        if let cache = self.staleReads {
            cache.forget(agents: lookup.missing)
            for placement in lookup.placements {
                cache.confirm(relay: placement.relayID, deadline: placement.expires, incarnation: placement.relayIncarnation)
                cache.confirm(agents: [placement.agentID], on: placement.relayID, lastHeartbeat: placement.lastHeartbeat, deadline: placement.expires)
            }
        }
        return lookup
    }

    /// Placements of live agents among `ids`; while the store is unreachable, answered
    /// from what this replica last confirmed when it can vouch for every one, with the
    /// oldest answer's age (docs/degraded-operation.md).
    public func placementsAllowingStale(of ids: [AgentID]) async throws -> (lookup: PlacementLookup, staleAge: Duration?) {
        do {
            return (try await self.placements(of: ids), nil)
        } catch let error as RegistryError where error.code == .unavailable {
            guard let answer = self.staleReads?.placements(of: ids) else { throw error }
            self.metrics.staleRead()
            return (answer.value, answer.age)
        }
    }

    /// A page of live placements. See ``RegistryBackend/listPlacements(relayID:after:limit:)``.
    public func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> {
        try await self.guarded("list_placements") {
            try await self.backend.listPlacements(relayID: relayID, after: after, limit: limit)
        }
    }

    /// A page of live relays. See ``RegistryBackend/listRelayStatuses(after:limit:)``.
    public func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> {
        try await self.guarded("list_relay_statuses") {
            try await self.backend.listRelayStatuses(after: after, limit: limit)
        }
    }

    // MARK: Admin operations

    /// Ends a live relay and its agents at once. See ``RegistryBackend/deregisterRelay(_:)``.
    /// - Returns: how many live agents it had.
    public func deregisterRelay(_ id: RelayID) async throws -> Int {
        let removed = try await self.guarded("deregister_relay") {
            try await self.backend.deregisterRelay(id)
        }
        self.staleReads?.forget(relay: id)
        self.logger.info("relay deregistered", metadata: ["relay_id": "\(id)", "agents_removed": "\(removed)"])
        return removed
    }

    /// Ends a live agent's placement. See ``RegistryBackend/deregisterAgent(_:from:)``.
    public func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws {
        try await self.guarded("deregister_agent", forgetting: [id]) {
            try await self.backend.deregisterAgent(id, from: relayID)
        }
        self.staleReads?.forget(agents: [id])
        self.logger.info("agent deregistered", metadata: ["agent_id": "\(id)", "relay_id": "\(relayID.map(\.rawValue) ?? "")"])
    }

    /// Starts or ends draining a live relay. See ``RegistryBackend/setDraining(_:_:)``.
    public func setDraining(_ id: RelayID, _ draining: Bool) async throws {
        try await self.guarded(draining ? "drain_relay" : "undrain_relay") {
            try await self.backend.setDraining(id, draining)
        }
        self.logger.info(draining ? "relay draining" : "relay undrained", metadata: ["relay_id": "\(id)"])
    }

    /// Runs a backend operation (`operation` names it in logs and as the metrics label),
    /// letting only `RegistryError` and `CancellationError` out, records its duration,
    /// and tells the stale-read cache whether the store answered; a NOT_FOUND forgets
    /// the agents in `forgetting`.
    private func guarded<Result>(
        _ operation: String,
        forgetting agents: [AgentID] = [],
        _ body: () async throws -> Result
    ) async throws -> Result {
        let started = self.staleReads?.now()
        let clock = ContinuousClock.now
        do {
            let result = try await body()
            self.metrics.storeOperation(operation, took: ContinuousClock.now - clock, error: nil)
            self.staleReads?.storeAnswered()
            return result
        } catch let error as RegistryError {
            self.metrics.storeOperation(operation, took: ContinuousClock.now - clock, error: error.code)
            if let cache = self.staleReads, let started {
                switch error.code {
                case .unavailable:
                    // The backend's own failed checks may have seen the outage earlier.
                    let since = self.backend.health.notServingSince.map { min($0, started) } ?? started
                    cache.storeFailed(startedAt: since)
                case .notFound: cache.forget(agents: agents)
                default: break
                }
            }
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            self.logger.error(
                "backend threw an error outside its contract",
                metadata: ["operation": "\(operation)", "error": "\(String(reflecting: error))"]
            )
            throw RegistryError.internalError("\(operation) failed unexpectedly", underlying: error)
        }
    }

    private func metadata(_ relay: Relay) -> Logger.Metadata {
        ["relay_id": "\(relay.id)", "endpoint": "\(relay.endpoint)"]
    }
}
