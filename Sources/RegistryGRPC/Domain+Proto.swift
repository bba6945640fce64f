import RegistryCore
import RegistryProtos

// Domain values to their wire messages.

extension Aeroarc_Registry_V1_Relay {
    init(_ relay: Relay) {
        self.init()
        self.relayID = relay.id.rawValue
        self.address = relay.endpoint.address
        self.grpcPort = Int32(relay.endpoint.grpcPort)
        self.lastHeartbeatUnixMs = relay.lastHeartbeat.rawValue
    }
}

extension Aeroarc_Registry_V1_Agent {
    init(_ agent: Agent) {
        self.init()
        self.agentID = agent.id.rawValue
        self.lastHeartbeatUnixMs = agent.lastHeartbeat.rawValue
    }
}

extension Aeroarc_Registry_V1_AgentPlacement {
    init(_ placement: AgentPlacement) {
        self.init()
        self.agentID = placement.agentID.rawValue
        self.relayID = placement.relayID.rawValue
        self.lastUpdatedUnixMs = placement.lastUpdated.rawValue
    }
}
