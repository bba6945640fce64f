import RegistryCore
import RegistryProtos

// Requests to domain values: every field checked, errors naming the field as the
// request spells it. Client-supplied times (last_heartbeat_unix_ms in a registration,
// timestamp_unix_ms in a heartbeat) are deliberately ignored: the registry owns time.

extension Aeroarc_Registry_V1_RegisterRelayRequest {
    func registration() throws(RegistryError) -> RelayRegistration {
        guard self.hasRelay else {
            throw .invalidArgument("relay is required")
        }
        return RelayRegistration(
            id: try RelayID(validating: self.relay.relayID, field: "relay.relay_id"),
            endpoint: try RelayEndpoint(
                address: self.relay.address,
                grpcPort: Int(self.relay.grpcPort),
                addressField: "relay.address",
                portField: "relay.grpc_port"
            )
        )
    }
}

extension Aeroarc_Registry_V1_HeartbeatRelayRequest {
    func id() throws(RegistryError) -> RelayID {
        try RelayID(validating: self.relayID, field: "relay_id")
    }
}

extension Aeroarc_Registry_V1_RegisterAgentRequest {
    func placement() throws(RegistryError) -> (agent: AgentID, relay: RelayID) {
        guard self.hasAgent else {
            throw .invalidArgument("agent is required")
        }
        return (
            try AgentID(validating: self.agent.agentID, field: "agent.agent_id"),
            try RelayID(validating: self.relayID, field: "relay_id")
        )
    }
}

extension Aeroarc_Registry_V1_HeartbeatAgentRequest {
    /// The agent, and the relay it must be placed on when `relay_id` is set.
    func target() throws(RegistryError) -> (agent: AgentID, expectedRelay: RelayID?) {
        let agent = try AgentID(validating: self.agentID, field: "agent_id")
        let relay = self.relayID.isEmpty ? nil : try RelayID(validating: self.relayID, field: "relay_id")
        return (agent, relay)
    }
}

extension Aeroarc_Registry_V1_GetAgentPlacementRequest {
    func id() throws(RegistryError) -> AgentID {
        try AgentID(validating: self.agentID, field: "agent_id")
    }
}
