import Logging
public import RegistryCore

/// The admin operations (docs/contract.md, "Admin operations") in Consul.
///
/// - **A relay's end** is one txn: `check-index` and `delete-cas` of the relay key at the
///   ModifyIndex it was judged live by, so a concurrent renewal or re-registration is never
///   deleted (the call judges again), and a key already gone fails the check instead of
///   passing as a no-op. Its agents name a CreateIndex that then no longer exists, so they
///   are dead at once; a relay registered again gets a new CreateIndex, a new incarnation.
///   The agents are counted from the same recursive read the relay was judged by, and their
///   keys deleted afterwards with `delete-cas` in txns of 64 (what is left, the sweeper
///   removes: they are not live).
/// - **An agent's end** is one txn: `check-index` on its relay and on it, then `delete-cas`.
/// - **Draining** is a field of the relay record (``ConsulRelayRecord/draining``). Every
///   placement's txn already checks the relay's ModifyIndex, which a drain changes, so no
///   placement commits on a relay that began draining after it was read.
///
/// Round trips: deregistering a relay is one recursive read, one txn and a txn per 64 of its
/// agents (concurrently); an agent, two or three reads and one txn; draining, one read and
/// one `PUT ?cas`.
extension ConsulBackend {
    public func deregisterRelay(_ id: RelayID) async throws -> Int {
        try await self.reporting {
            let key = self.keys.relay(id)
            let ended = try await self.retrying("deregister relay \(id)") { retry -> (live: Int, agents: [StoredAgent])? in
                let now = self.clock.now().rawValue
                let contents = try await self.readAll(consistent: retry)
                guard let relay = contents.relays[id], relay.isLive(at: now) else {
                    throw RegistryError.notFound("relay \(id) is not registered or has expired")
                }
                let outcome = try await self.client.transaction([
                    .checkIndex(key, index: relay.modifyIndex),
                    .deleteCAS(key, index: relay.modifyIndex),
                ])
                guard case .applied = outcome else { return nil }
                let agents = contents.agents.filter { $0.relayID == id && $0.record.relayIncarnation == relay.incarnation }
                return (agents.count { now < $0.record.expiresMilliseconds }, agents)
            }
            await self.removeAgents(ended.agents, of: id)
            return ended.live
        }
    }

    /// Deletes the keys of a deregistered relay's agents with `delete-cas` at the
    /// ModifyIndex each was read at (an agent placed again since keeps its new placement),
    /// in txns of 64, concurrently. Best effort: they are dead already.
    private func removeAgents(_ agents: [StoredAgent], of relayID: RelayID) async {
        let candidates = agents.map { ConsulSweepQueue.Candidate(key: self.keys.agent($0.id), modifyIndex: $0.modifyIndex, kind: .agent) }
        do {
            _ = try await self.concurrently(candidates.chunked(into: Self.maximumTransactionOperations)) { chunk in
                try await self.delete(chunk)
            }
        } catch {
            self.logger.warning(
                "could not remove the agents of a deregistered relay from Consul; the sweeper will",
                metadata: ["relay_id": "\(relayID)", "agents": "\(agents.count)", "error": "\(error)"]
            )
        }
    }

    public func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws {
        try await self.reporting {
            let agentKey = self.keys.agent(id)
            let notLive = RegistryError.notFound("agent \(id) is not registered or has expired")
            try await self.retrying("deregister agent \(id)") { retry -> Void? in
                let now = self.clock.now().rawValue
                let read: (relay: ConsulKVEntry?, agent: ConsulKVEntry?)
                if let relayID {
                    read = try await self.read(self.keys.relay(relayID), agentKey, consistent: retry)
                } else {
                    read = (nil, try await self.client.get(agentKey, consistent: retry))
                }
                guard let agentEntry = read.agent, let agent = self.coder.agent(agentEntry, id: id) else { throw notLive }
                if let relayID, relayID != agent.relayID {
                    throw RegistryError.notFound("agent \(id) is not live on relay \(relayID)")
                }
                let relayKey = self.keys.relay(agent.relayID)
                let relayEntry = relayID != nil ? read.relay : try await self.client.get(relayKey, consistent: retry)
                guard let relay = relayEntry.flatMap({ self.coder.relay($0, id: agent.relayID) }), agent.isLive(at: now, relay: relay) else {
                    throw notLive
                }
                let outcome = try await self.client.transaction([
                    .checkIndex(relayKey, index: relay.modifyIndex),
                    .checkIndex(agentKey, index: agentEntry.modifyIndex),
                    .deleteCAS(agentKey, index: agentEntry.modifyIndex),
                ])
                guard case .applied = outcome else { return nil }
                return ()
            }
        }
    }

    public func setDraining(_ id: RelayID, _ draining: Bool) async throws {
        try await self.reporting {
            let key = self.keys.relay(id)
            try await self.retrying("\(draining ? "drain" : "undrain") relay \(id)") { retry -> Void? in
                let now = self.clock.now().rawValue
                guard let entry = try await self.client.get(key, consistent: retry),
                    var stored = self.coder.relay(entry, id: id), stored.isLive(at: now)
                else {
                    throw RegistryError.notFound("relay \(id) is not registered or has expired")
                }
                guard stored.record.isDraining != draining else { return () }
                // Absent rather than false when not draining: records stay as before.
                stored.record.draining = draining ? true : nil
                guard try await self.client.put(key, value: try self.coder.encode(stored.record), cas: entry.modifyIndex) else {
                    return nil
                }
                return ()
            }
        }
    }
}
