import RegistryCore
import RegistryProtos

// Fleet requests to domain values: every field checked, errors naming the field (and
// index) as the request spells it. timestamp_unix_ms is ignored: the registry owns time.

extension Aeroarc_Registry_Fleet_V1_SyncRelayRequest {
    func sync() throws(RegistryError) -> RelaySync {
        let relayID = try RelayID(validating: self.relayID, field: "relay_id")
        let endpoint: RelayEndpoint?
        switch (self.address.isEmpty, self.grpcPort == 0) {
        case (true, true):
            endpoint = nil
        case (false, false):
            endpoint = try RelayEndpoint(address: self.address, grpcPort: Int(self.grpcPort), addressField: "address", portField: "grpc_port")
        default:
            throw .invalidArgument(
                "address and grpc_port must both be set (register or renew the relay) or both be empty (renew only)"
            )
        }
        let place = try distinct(self.placeAgentIds, field: "place_agent_ids")
        let placed = Set(place)
        let renew = try distinct(self.renewAgentIds, field: "renew_agent_ids").filter { !placed.contains($0) }
        let total = place.count + renew.count
        guard total <= RelaySync.maximumAgents else {
            throw .invalidArgument("a sync carries at most \(RelaySync.maximumAgents) distinct agent IDs, not \(total)")
        }
        return RelaySync(relayID: relayID, endpoint: endpoint, place: place, renew: renew)
    }
}

extension Aeroarc_Registry_Fleet_V1_GetPlacementsRequest {
    /// The most agent IDs one lookup may carry.
    static let maximumAgents = 1_000

    func ids() throws(RegistryError) -> [AgentID] {
        guard self.agentIds.count <= Self.maximumAgents else {
            throw .invalidArgument("agent_ids holds at most \(Self.maximumAgents) IDs, not \(self.agentIds.count)")
        }
        return try distinct(self.agentIds, field: "agent_ids")
    }
}

/// A page size: 0 means the default of 1,000; otherwise 1 to 10,000.
func pageSize(_ requested: Int32) throws(RegistryError) -> Int {
    switch requested {
    case 0: 1_000
    case 1...10_000: Int(requested)
    default: throw .invalidArgument("page_size must be from 1 to 10000 (0 means 1000), not \(requested)")
    }
}

/// Validated agent IDs with duplicates removed, first occurrences in order.
private func distinct(_ raw: [String], field: String) throws(RegistryError) -> [AgentID] {
    var seen = Set<AgentID>(minimumCapacity: raw.count)
    var ids: [AgentID] = []
    ids.reserveCapacity(raw.count)
    for (index, value) in raw.enumerated() {
        let id = try AgentID(validating: value, field: "\(field)[\(index)]")
        if seen.insert(id).inserted {
            ids.append(id)
        }
    }
    return ids
}
