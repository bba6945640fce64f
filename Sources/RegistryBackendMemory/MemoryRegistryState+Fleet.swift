import RegistryCore

/// The fleet extension (docs/contract.md, "Fleet API"): each call is one critical section.
extension MemoryRegistryState {
    mutating func syncRelay(_ sync: RelaySync, now: Int64) throws(RegistryError) -> RelaySyncResult {
        let id = sync.relayID
        var outcome = RelayRegistrationResult.Outcome.renewed
        if let endpoint = sync.endpoint {
            outcome = try self.registerRelay(RelayRegistration(id: id, endpoint: endpoint), now: now).outcome
        } else {
            _ = try self.heartbeatRelay(id, now: now)
        }
        guard let relayRecord = self.relays[id] else {
            throw .internalError("relay \(id) vanished during its own sync")
        }
        var lost: [LostAgent] = []
        var moved = 0
        for agentID in sync.place {
            do {
                if try self.registerAgent(agentID, on: id, now: now).previousRelayID != nil {
                    moved += 1
                }
            } catch where error.code == .resourceExhausted {
                lost.append(LostAgent(agentID: agentID, reason: .capacity))
            } catch where error.code == .failedPrecondition {
                // The relay is draining and the agent is not live on it.
                lost.append(LostAgent(agentID: agentID, reason: .relayDraining))
            }
        }
        for agentID in sync.renew {
            guard let agent = self.agents[agentID], self.isLive(agent, now: now) else {
                lost.append(LostAgent(agentID: agentID, reason: .notLive))
                continue
            }
            guard agent.relayID == id else {
                lost.append(LostAgent(agentID: agentID, reason: .placedElsewhere(current: agent.relayID)))
                continue
            }
            self.renewAgent(agentID, agent, now: now)
        }
        return RelaySyncResult(
            incarnation: RelayIncarnation(relayRecord.incarnation),
            relayStarted: outcome != .renewed,
            movedAgents: moved,
            relayRecreated: outcome == .recreated,
            lost: lost,
            relayExpires: UnixMilliseconds(self.deadline(relayRecord)),
            now: UnixMilliseconds(now)
        )
    }

    /// A live agent's placement as the fleet API reports it, or nil.
    func fleetPlacement(of id: AgentID, now: Int64) -> FleetPlacement? {
        guard let agent = self.agents[id], now < self.deadline(agent),
              let relay = self.relays[agent.relayID], self.isLive(relay, now: now)
        else { return nil }
        return FleetPlacement(
            agentID: id,
            relayID: agent.relayID,
            lastHeartbeat: UnixMilliseconds(agent.lastHeartbeat),
            expires: UnixMilliseconds(min(self.deadline(agent), self.deadline(relay))),
            relayIncarnation: RelayIncarnation(relay.incarnation)
        )
    }

    func placements(of ids: [AgentID], now: Int64) -> PlacementLookup {
        var found: [FleetPlacement] = []
        var missing: [AgentID] = []
        for id in ids {
            if let placement = self.fleetPlacement(of: id, now: now) {
                found.append(placement)
            } else {
                missing.append(id)
            }
        }
        return PlacementLookup(placements: found, missing: missing, asOf: UnixMilliseconds(now))
    }

    /// A page of live placements in ID order: walks the ID index (the relay's, when
    /// filtered) from `after`, skipping entries that expired but are not reclaimed yet.
    func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int, now: Int64) -> Page<FleetPlacement> {
        var entries: [FleetPlacement] = []
        var hasMore = false
        let collect = { (id: AgentID) -> Bool in
            guard let placement = self.fleetPlacement(of: id, now: now) else { return true }
            if entries.count == limit {
                hasMore = true
                return false
            }
            entries.append(placement)
            return true
        }
        if let relayID {
            guard let relay = self.relays[relayID], self.isLive(relay, now: now) else {
                return Page(entries: [], hasMore: false, asOf: UnixMilliseconds(now))
            }
            relay.agents.forEach(after: after, collect)
        } else {
            self.agentOrder.forEach(after: after, collect)
        }
        return Page(entries: entries, hasMore: hasMore, asOf: UnixMilliseconds(now))
    }

    /// A page of live relays in ID order, each with its live agents counted.
    func listRelayStatuses(after: RelayID?, limit: Int, now: Int64) -> Page<RelayStatus> {
        var entries: [RelayStatus] = []
        var hasMore = false
        self.relayOrder.forEach(after: after) { id in
            guard let relay = self.relays[id], self.isLive(relay, now: now) else { return true }
            if entries.count == limit {
                hasMore = true
                return false
            }
            entries.append(
                RelayStatus(
                    relay: self.relay(id, relay.endpoint, relay.lastHeartbeat),
                    expires: UnixMilliseconds(self.deadline(relay)),
                    incarnation: RelayIncarnation(relay.incarnation),
                    agentCount: self.liveAgentCount(of: relay, now: now),
                    draining: relay.draining
                )
            )
            return true
        }
        return Page(entries: entries, hasMore: hasMore, asOf: UnixMilliseconds(now))
    }
}
