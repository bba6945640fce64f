import RegistryCore

/// Everything the in-memory backend stores, and the registry's semantics over it.
///
/// A plain value without locks or I/O: ``MemoryBackend`` keeps it behind a mutex and
/// passes in the time, so it can be tested on its own. Invariants:
/// - every agent is in the `agents` set of the relay it is placed on, and that relay is
///   stored (agents of a relay are removed with it);
/// - the two expiry indexes hold exactly the stored relays and agents, at their deadlines
///   (last heartbeat + TTL + grace extension, see ``applyOutageGrace(startedAt:grace:)``);
/// - a grace extension is zero from the entry's last renewal until an outage ends;
/// - the two ID-ordered indexes hold exactly the stored relays and agents (for paging).
///
/// A relay's agents all belong to its current incarnation: when an expired relay is
/// registered again, or a relay is deregistered, its agents are removed, so an
/// incarnation number only needs to be reported, never compared. Likewise draining is a
/// field of the relay's record, so a new incarnation starts without it.
///
/// The fleet extension is in `MemoryRegistryState+Fleet.swift`, the admin operations in
/// `MemoryRegistryState+Admin.swift`; both change the indexes only through the
/// mutations here.
struct MemoryRegistryState {
    struct RelayRecord {
        var endpoint: RelayEndpoint
        var lastHeartbeat: Int64
        var incarnation: UInt64
        /// Time added to the deadline by outages since the last renewal (milliseconds).
        var graceExtension: Int64 = 0
        /// The agents placed on this relay, in ID order (the per-relay index).
        var agents = SortedIDIndex<AgentID>()
        /// The relay takes no new placements (``setDraining(_:_:now:)``); ends with the incarnation.
        var draining = false
    }

    struct AgentRecord {
        var relayID: RelayID
        var lastHeartbeat: Int64
        /// Time added to the deadline by outages since the last renewal (milliseconds).
        var graceExtension: Int64 = 0
    }

    let relayTTL: Int64
    let agentTTL: Int64
    let limits: CapacityLimits

    private(set) var relays: [RelayID: RelayRecord] = [:]
    private(set) var agents: [AgentID: AgentRecord] = [:]
    private var relayExpiry: ExpiryIndex<RelayID>
    private var agentExpiry: ExpiryIndex<AgentID>
    private(set) var relayOrder = SortedIDIndex<RelayID>()
    private(set) var agentOrder = SortedIDIndex<AgentID>()
    /// The last incarnation number handed out.
    private var lastIncarnation: UInt64 = 0

    init(ttl: TTLPolicy, limits: CapacityLimits, expiryGranularity: Int64 = 100) {
        self.relayTTL = ttl.relayTTLMilliseconds
        self.agentTTL = ttl.agentTTLMilliseconds
        self.limits = limits
        self.relayExpiry = ExpiryIndex(granularity: expiryGranularity)
        self.agentExpiry = ExpiryIndex(granularity: expiryGranularity)
    }

    // MARK: Liveness

    /// The first instant at which the relay is no longer live.
    func deadline(_ relay: RelayRecord) -> Int64 {
        relay.lastHeartbeat + self.relayTTL + relay.graceExtension
    }

    /// The first instant at which the agent is no longer live on its own account (its relay
    /// may expire first).
    func deadline(_ agent: AgentRecord) -> Int64 {
        agent.lastHeartbeat + self.agentTTL + agent.graceExtension
    }

    func isLive(_ relay: RelayRecord, now: Int64) -> Bool {
        now < self.deadline(relay)
    }

    func isLive(_ agent: AgentRecord, now: Int64) -> Bool {
        guard now < self.deadline(agent), let relay = self.relays[agent.relayID] else {
            return false
        }
        return self.isLive(relay, now: now)
    }

    // MARK: Relays

    mutating func registerRelay(_ registration: RelayRegistration, now: Int64) throws(RegistryError) -> RelayRegistrationResult {
        let id = registration.id
        var outcome = RelayRegistrationResult.Outcome.created
        if let existing = self.relays[id] {
            if self.isLive(existing, now: now) {
                self.relayExpiry.update(id, from: self.deadline(existing), to: now + self.relayTTL)
                self.relays[id]?.endpoint = registration.endpoint
                self.relays[id]?.lastHeartbeat = now
                self.relays[id]?.graceExtension = 0
                return RelayRegistrationResult(relay: self.relay(id, registration.endpoint, now), outcome: .renewed)
            }
            // The previous incarnation expired: it and its agents go, and this one starts empty.
            self.removeRelay(id)
            outcome = .recreated
        } else if self.relays.count >= self.limits.maxRelays {
            _ = self.removeExpired(now: now, limit: .max)
            if self.relays.count >= self.limits.maxRelays {
                throw .resourceExhausted("relay limit of \(self.limits.maxRelays) reached; relay \(id) was not registered")
            }
        }
        self.lastIncarnation += 1
        self.relays[id] = RelayRecord(endpoint: registration.endpoint, lastHeartbeat: now, incarnation: self.lastIncarnation)
        self.relayExpiry.insert(id, deadline: now + self.relayTTL)
        self.relayOrder.insert(id)
        return RelayRegistrationResult(relay: self.relay(id, registration.endpoint, now), outcome: outcome)
    }

    mutating func heartbeatRelay(_ id: RelayID, now: Int64) throws(RegistryError) -> Relay {
        guard let existing = self.relays[id], self.isLive(existing, now: now) else {
            throw .notFound("relay \(id) is not registered or has expired; register it again")
        }
        self.relayExpiry.update(id, from: self.deadline(existing), to: now + self.relayTTL)
        self.relays[id]?.lastHeartbeat = now
        self.relays[id]?.graceExtension = 0
        return self.relay(id, existing.endpoint, now)
    }

    /// Sets a stored relay's draining flag (``setDraining(_:_:now:)`` judges liveness).
    mutating func updateDraining(_ id: RelayID, _ draining: Bool) {
        self.relays[id]?.draining = draining
    }

    /// Live relays, unsorted.
    func liveRelays(now: Int64) -> [Relay] {
        var live: [Relay] = []
        live.reserveCapacity(self.relays.count)
        for (id, record) in self.relays where self.isLive(record, now: now) {
            live.append(self.relay(id, record.endpoint, record.lastHeartbeat))
        }
        return live
    }

    func relay(_ id: RelayID, _ endpoint: RelayEndpoint, _ lastHeartbeat: Int64) -> Relay {
        Relay(id: id, endpoint: endpoint, lastHeartbeat: UnixMilliseconds(lastHeartbeat))
    }

    // MARK: Agents

    mutating func registerAgent(_ id: AgentID, on relayID: RelayID, now: Int64) throws(RegistryError) -> AgentRegistrationResult {
        guard let relay = self.relays[relayID], self.isLive(relay, now: now) else {
            throw .notFound("relay \(relayID) is not registered or has expired; agent \(id) was not registered")
        }
        if relay.draining {
            // Only an agent already live on it is renewed; nothing new is placed.
            guard let existing = self.agents[id], existing.relayID == relayID, self.isLive(existing, now: now) else {
                throw .failedPrecondition("relay \(relayID) is draining and takes no new agents; agent \(id) was not placed on it")
            }
        }
        var previousRelayID: RelayID?
        if let existing = self.agents[id] {
            if existing.relayID != relayID {
                if self.isLive(existing, now: now) {
                    previousRelayID = existing.relayID
                }
                self.relays[existing.relayID]?.agents.remove(id)
            }
            self.agentExpiry.update(id, from: self.deadline(existing), to: now + self.agentTTL)
        } else {
            if self.agents.count >= self.limits.maxAgents {
                _ = self.removeExpired(now: now, limit: .max)
                if self.agents.count >= self.limits.maxAgents {
                    throw .resourceExhausted("agent limit of \(self.limits.maxAgents) reached; agent \(id) was not registered")
                }
            }
            self.agentExpiry.insert(id, deadline: now + self.agentTTL)
            self.agentOrder.insert(id)
        }
        self.agents[id] = AgentRecord(relayID: relayID, lastHeartbeat: now)
        self.relays[relayID]?.agents.insert(id)
        let placement = AgentPlacement(agentID: id, relayID: relayID, lastUpdated: UnixMilliseconds(now))
        return AgentRegistrationResult(placement: placement, previousRelayID: previousRelayID)
    }

    mutating func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?, now: Int64) throws(RegistryError) -> AgentPlacement {
        guard let existing = self.agents[id], self.isLive(existing, now: now) else {
            throw .notFound("agent \(id) is not registered or has expired; register it again")
        }
        if let expectedRelayID, expectedRelayID != existing.relayID {
            throw .notFound("agent \(id) is not placed on relay \(expectedRelayID); it is on relay \(existing.relayID)")
        }
        self.renewAgent(id, existing, now: now)
        return AgentPlacement(agentID: id, relayID: existing.relayID, lastUpdated: UnixMilliseconds(now))
    }

    /// Makes a stored agent live for another agent TTL where it is placed.
    mutating func renewAgent(_ id: AgentID, _ record: AgentRecord, now: Int64) {
        self.agentExpiry.update(id, from: self.deadline(record), to: now + self.agentTTL)
        self.agents[id]?.lastHeartbeat = now
        self.agents[id]?.graceExtension = 0
    }

    func placement(of id: AgentID, now: Int64) throws(RegistryError) -> AgentPlacement {
        guard let agent = self.agents[id], self.isLive(agent, now: now) else {
            throw .notFound("agent \(id) is not registered or has expired")
        }
        return AgentPlacement(agentID: id, relayID: agent.relayID, lastUpdated: UnixMilliseconds(agent.lastHeartbeat))
    }

    /// Live agents, unsorted.
    func liveAgents(now: Int64) -> [Agent] {
        // Relays are few: judge each once, then walk the agents in storage order, which
        // reads memory sequentially where a lookup per agent would jump around it.
        var liveRelays = Set<RelayID>(minimumCapacity: self.relays.count)
        for (id, relay) in self.relays where self.isLive(relay, now: now) {
            liveRelays.insert(id)
        }
        var live: [Agent] = []
        live.reserveCapacity(self.agents.count)
        for (id, agent) in self.agents where now < self.deadline(agent) && liveRelays.contains(agent.relayID) {
            live.append(Agent(id: id, relayID: agent.relayID, lastHeartbeat: UnixMilliseconds(agent.lastHeartbeat)))
        }
        return live
    }

    // MARK: Expiry

    /// Removes expired entries until about `limit` are gone; a relay always goes with all its
    /// agents, so a batch can exceed `limit` by one relay's agents.
    mutating func removeExpired(now: Int64, limit: Int) -> ExpiryReport {
        var report = ExpiryReport()
        while report.total < limit, let id = self.relayExpiry.popExpired(now: now) {
            guard let record = self.relays[id] else { continue }
            if self.isLive(record, now: now) {
                // Cannot happen while the index mirrors the records; keep the relay rather than lose it.
                self.relayExpiry.insert(id, deadline: self.deadline(record))
                continue
            }
            report.agentsRemoved += record.agents.count
            report.relaysRemoved += 1
            self.removeRelay(id)
        }
        while report.total < limit, let id = self.agentExpiry.popExpired(now: now) {
            guard let record = self.agents[id] else { continue }
            if now < self.deadline(record) {
                self.agentExpiry.insert(id, deadline: self.deadline(record))
                continue
            }
            self.removeAgent(id)
            report.agentsRemoved += 1
        }
        return report
    }

    /// Removes an agent from storage and from every index.
    mutating func removeAgent(_ id: AgentID) {
        guard let record = self.agents.removeValue(forKey: id) else { return }
        self.agentExpiry.remove(id, deadline: self.deadline(record))
        self.agentOrder.remove(id)
        self.relays[record.relayID]?.agents.remove(id)
    }

    /// Removes a relay and every agent placed on it, from storage and from every index.
    mutating func removeRelay(_ id: RelayID) {
        guard let record = self.relays.removeValue(forKey: id) else { return }
        self.relayExpiry.remove(id, deadline: self.deadline(record))
        self.relayOrder.remove(id)
        record.agents.forEach(after: nil) { agentID in
            if let agent = self.agents.removeValue(forKey: agentID) {
                self.agentExpiry.remove(agentID, deadline: self.deadline(agent))
                self.agentOrder.remove(agentID)
            }
            return true
        }
    }

    // MARK: Outage grace

    /// Gives back time lost to an outage: every relay and agent live at `start` gets its
    /// deadline moved `grace` milliseconds later. Entries already expired at `start` stay
    /// expired; an agent counts as live only if its relay is too. Reported heartbeats do
    /// not change, and the next renewal drops the extension. O(stored entries).
    mutating func applyOutageGrace(startedAt start: Int64, grace: Int64) {
        guard grace > 0 else { return }
        // Extensions only push deadlines later, so judging relays before or after their own
        // extension gives the same answer.
        for index in self.agents.indices {
            let (id, agent) = self.agents[index]
            guard start < self.deadline(agent), let relay = self.relays[agent.relayID], start < self.deadline(relay) else {
                continue
            }
            self.agentExpiry.update(id, from: self.deadline(agent), to: self.deadline(agent) + grace)
            self.agents.values[index].graceExtension += grace
        }
        for index in self.relays.indices {
            let (id, relay) = self.relays[index]
            guard start < self.deadline(relay) else { continue }
            self.relayExpiry.update(id, from: self.deadline(relay), to: self.deadline(relay) + grace)
            self.relays.values[index].graceExtension += grace
        }
    }

    /// Entries in the expiry indexes, for checking the invariants in tests.
    var indexedCounts: (relays: Int, agents: Int) {
        (self.relayExpiry.count, self.agentExpiry.count)
    }

    /// Entries in the ID-ordered indexes, for checking the invariants in tests.
    var orderedCounts: (relays: Int, agents: Int) {
        (self.relayOrder.count, self.agentOrder.count)
    }
}
