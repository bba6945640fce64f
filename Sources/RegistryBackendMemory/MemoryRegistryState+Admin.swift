import RegistryCore

/// The admin operations (docs/contract.md, "Admin operations"): deregistering relays and
/// agents, and draining relays. Each is one critical section; deregistering a relay costs
/// O(its agents), nothing else depends on the size of the fleet.
extension MemoryRegistryState {
    /// Ends a live relay's incarnation: it and its agents leave storage and every index at
    /// once, so a registration afterwards starts a new, empty incarnation that is not draining.
    /// - Returns: how many live agents the relay had.
    mutating func deregisterRelay(_ id: RelayID, now: Int64) throws(RegistryError) -> Int {
        guard let relay = self.relays[id], self.isLive(relay, now: now) else {
            throw .notFound("relay \(id) is not registered or has expired")
        }
        let liveAgents = self.liveAgentCount(of: relay, now: now)
        self.removeRelay(id)
        return liveAgents
    }

    /// Ends a live agent's placement, only if it is on `relayID` when that is given.
    mutating func deregisterAgent(_ id: AgentID, from relayID: RelayID?, now: Int64) throws(RegistryError) {
        guard let agent = self.agents[id], self.isLive(agent, now: now) else {
            throw .notFound("agent \(id) is not registered or has expired")
        }
        if let relayID, relayID != agent.relayID {
            throw .notFound("agent \(id) is not placed on relay \(relayID); it is on relay \(agent.relayID)")
        }
        self.removeAgent(id)
    }

    /// Starts or ends draining a live relay; renews nothing.
    mutating func setDraining(_ id: RelayID, _ draining: Bool, now: Int64) throws(RegistryError) {
        guard let relay = self.relays[id], self.isLive(relay, now: now) else {
            throw .notFound("relay \(id) is not registered or has expired")
        }
        self.updateDraining(id, draining)
    }

    /// The relay's agents that are live on their own account (they all belong to its
    /// current incarnation, so they are live while it is).
    func liveAgentCount(of relay: RelayRecord, now: Int64) -> Int {
        var count = 0
        relay.agents.forEach(after: nil) { agentID in
            if let agent = self.agents[agentID], now < self.deadline(agent) {
                count += 1
            }
            return true
        }
        return count
    }
}
