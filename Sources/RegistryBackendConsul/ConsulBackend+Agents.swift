public import RegistryCore
import Synchronization

extension ConsulBackend {
    /// Reads the relay and the agent in one read-only txn, then writes the agent in a txn
    /// that also checks the relay's ModifyIndex (`check-index`), so the placement commits only
    /// on the incarnation that was found live. The agent is written with `cas` on its own
    /// ModifyIndex (a move and a concurrent heartbeat cannot both win), or at index 0 behind
    /// the capacity guard when it is new. A draining relay (a field of the relay record, so
    /// the `check-index` also catches a drain begun meanwhile) only renews agents already
    /// live on it.
    public func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult {
        try await self.reporting {
            let relayKey = self.keys.relay(relayID)
            let agentKey = self.keys.agent(id)
            return try await self.retrying("register agent \(id)") { retry in
                let now = self.clock.now().rawValue
                let (relayEntry, agentEntry) = try await self.read(relayKey, agentKey, consistent: retry)
                guard let relayEntry, let relay = self.coder.relay(relayEntry, id: relayID), relay.isLive(at: now) else {
                    throw RegistryError.notFound("relay \(relayID) is not registered or has expired; agent \(id) was not registered")
                }
                let record = ConsulAgentRecord(
                    relayID: relayID.rawValue,
                    relayIncarnation: relay.incarnation,
                    heartbeatMilliseconds: now,
                    expiresMilliseconds: self.agentDeadline(now)
                )
                var operations: [ConsulTxnOperation] = [.checkIndex(relayKey, index: relay.modifyIndex)]
                var previousRelayID: RelayID?
                if relay.record.isDraining {
                    let existing = agentEntry.flatMap { self.coder.agent($0, id: id) }
                    guard let existing, existing.relayID == relayID, existing.isLive(at: now, relay: relay) else {
                        throw RegistryError.failedPrecondition("relay \(relayID) is draining and takes no new agents; agent \(id) was not placed on it")
                    }
                }
                if let agentEntry {
                    if let existing = self.coder.agent(agentEntry, id: id), existing.relayID != relayID {
                        let previousRelay = try await self.client.get(self.keys.relay(existing.relayID), consistent: retry)
                            .flatMap { self.coder.relay($0, id: existing.relayID) }
                        if existing.isLive(at: now, relay: previousRelay) {
                            previousRelayID = existing.relayID
                        }
                    }
                    operations.append(.cas(agentKey, index: agentEntry.modifyIndex, value: try self.coder.encode(record)))
                } else {
                    operations += try await self.capacity.admit(.agent, creating: "agent \(id)", backend: self, now: now)
                    operations.append(.cas(agentKey, index: 0, value: try self.coder.encode(record)))
                }
                guard case .applied = try await self.client.transaction(operations) else { return nil }
                let placement = AgentPlacement(agentID: id, relayID: relayID, lastUpdated: UnixMilliseconds(now))
                return AgentRegistrationResult(placement: placement, previousRelayID: previousRelayID)
            }
        }
    }

    /// Reads the agent (with the named relay, in one read-only txn, when one is named) and
    /// its relay, then renews the agent with `PUT ?cas=<ModifyIndex>`: a concurrent move
    /// makes the write fail and the heartbeat is judged again against the new placement.
    public func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement {
        try await self.reporting {
            let agentKey = self.keys.agent(id)
            return try await self.retrying("heartbeat agent \(id)") { retry in
                let now = self.clock.now().rawValue
                let read: (relay: ConsulKVEntry?, agent: ConsulKVEntry?)
                if let expectedRelayID {
                    read = try await self.read(self.keys.relay(expectedRelayID), agentKey, consistent: retry)
                } else {
                    read = (nil, try await self.client.get(agentKey, consistent: retry))
                }
                let (expectedRelayEntry, agentEntry) = read
                guard let agentEntry, var agent = self.coder.agent(agentEntry, id: id) else {
                    throw RegistryError.notFound("agent \(id) is not registered or has expired; register it again")
                }
                let relayEntry =
                    agent.relayID == expectedRelayID
                    ? expectedRelayEntry : try await self.client.get(self.keys.relay(agent.relayID), consistent: retry)
                let relay = relayEntry.flatMap { self.coder.relay($0, id: agent.relayID) }
                guard agent.isLive(at: now, relay: relay) else {
                    throw RegistryError.notFound("agent \(id) is not registered or has expired; register it again")
                }
                if let expectedRelayID, expectedRelayID != agent.relayID {
                    throw RegistryError.notFound("agent \(id) is not placed on relay \(expectedRelayID); it is on relay \(agent.relayID)")
                }
                agent.record.heartbeatMilliseconds = now
                agent.record.expiresMilliseconds = self.agentDeadline(now)
                guard try await self.client.put(agentKey, value: try self.coder.encode(agent.record), cas: agentEntry.modifyIndex) else {
                    return nil
                }
                return agent.placement
            }
        }
    }

    /// Reads the agent, then its relay.
    public func placement(of id: AgentID) async throws -> AgentPlacement {
        try await self.reporting {
            let now = self.clock.now().rawValue
            guard let entry = try await self.client.get(self.keys.agent(id)), let agent = self.coder.agent(entry, id: id) else {
                throw RegistryError.notFound("agent \(id) is not registered or has expired")
            }
            let relay = try await self.client.get(self.keys.relay(agent.relayID)).flatMap { self.coder.relay($0, id: agent.relayID) }
            guard agent.isLive(at: now, relay: relay) else {
                throw RegistryError.notFound("agent \(id) is not registered or has expired")
            }
            return agent.placement
        }
    }

    /// One recursive read of the whole prefix (relays and agents at one Consul index),
    /// filtered for liveness and sorted by ID bytes.
    public func listAgents() async throws -> Snapshot<Agent> {
        try await self.reporting {
            let now = self.clock.now()
            let contents = try await self.readAll()
            var agents: [Agent] = []
            agents.reserveCapacity(contents.agents.count)
            for agent in contents.agents where agent.isLive(at: now.rawValue, relay: contents.relays[agent.relayID]) {
                agents.append(agent.agent)
            }
            agents.sortByIdentifier(\.id)
            return Snapshot(entries: agents, asOf: now)
        }
    }

    // MARK: Reads

    /// Two keys in one read-only transaction (one consistent snapshot); nil for a missing key.
    func read(_ first: String, _ second: String, consistent: Bool) async throws -> (ConsulKVEntry?, ConsulKVEntry?) {
        let outcome = try await self.client.transaction([.getOrEmpty(first), .getOrEmpty(second)], consistent: consistent)
        guard case .applied(let results) = outcome else {
            throw RegistryError.unavailable("\(self.client.storeName) rolled back a read-only transaction")
        }
        let firstEntry = results.first { $0.key == first && $0.exists }
        let secondEntry = results.first { $0.key == second && $0.exists }
        return (firstEntry, secondEntry)
    }

    /// Everything stored under the prefix, decoded, from one recursive read.
    func readAll(consistent: Bool = false) async throws -> ConsulRegistryContents {
        let entries = try await self.client.list(prefix: self.keys.prefix, consistent: consistent)
        return ConsulRegistryContents(entries: entries, keys: self.keys, coder: self.coder)
    }
}

/// The decoded contents of the registry's prefix, as of one Consul index.
struct ConsulRegistryContents {
    var relays: [RelayID: StoredRelay] = [:]
    var agents: [StoredAgent] = []
    /// Keys in a relay or agent folder whose key or value cannot be decoded, with their
    /// ModifyIndex: garbage.
    var undecodable: [(key: String, modifyIndex: UInt64, kind: ConsulKeySchema.Kind)] = []

    init(entries: [ConsulKVEntry], keys: ConsulKeySchema, coder: ConsulRecordCoder) {
        let decoder = ConsulRecordCoder.makeDecoder()
        self.agents.reserveCapacity(entries.count)
        for entry in entries {
            switch keys.parse(entry.key) {
            case .relay(let id):
                if let relay = coder.relay(entry, id: id, decoder: decoder) {
                    self.relays[id] = relay
                } else {
                    self.undecodable.append((entry.key, entry.modifyIndex, .relay))
                }
            case .agent(let id):
                if let agent = coder.agent(entry, id: id, decoder: decoder) {
                    self.agents.append(agent)
                } else {
                    self.undecodable.append((entry.key, entry.modifyIndex, .agent))
                }
            case .undecodable(let kind):
                self.undecodable.append((entry.key, entry.modifyIndex, kind))
            case nil:
                continue
            }
        }
    }
}
