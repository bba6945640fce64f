import GRPCCore
import RegistryProtos
import SwiftProtobuf

/// What a run exercises.
public enum Scenario: String, CaseIterable, Sendable, Codable {
    /// The baseline: an empty unary call to the bench's own noop server.
    case noop
    case heartbeatAgent = "heartbeat-agent"
    case heartbeatRelay = "heartbeat-relay"
    /// Registrations that move agents between relays.
    case registerAgent = "register-agent"
    case getPlacement = "get-placement"
    case listAgents = "list-agents"
    case listRelays = "list-relays"
    /// A first page of 1,000 placements through the fleet API's ListPlacements.
    case listPlacements = "list-placements"
    /// R relays and A agents heartbeating every I seconds, plus Q placement reads per second.
    case fleet
    /// The same fleet through the fleet API: each of the R relays sends one SyncRelay
    /// renewing its A/R agents every I seconds, plus Q placement reads per second.
    case fleetSync = "fleet-sync"
    /// Expiring a tenth of the agents (by letting a tenth of the relays lapse) while
    /// heartbeats go on; needs a registry with a short relay TTL.
    case expiry
    /// An outage drill: the fleet heartbeating through v1 while the store is paused and
    /// resumed (needs `--store-pid`); see ``OutageScenario``.
    case outage

    /// The set `scripts/bench` runs.
    public static let standard: [Scenario] = [
        .noop, .heartbeatAgent, .heartbeatRelay, .registerAgent, .getPlacement, .listRelays, .listAgents, .listPlacements,
        .fleet, .fleetSync,
    ]

    /// Whether the scenario needs the fleet preloaded.
    var needsFleet: Bool {
        self != .noop
    }

    /// One call of this scenario (not for `.fleet` and `.expiry`, which combine several).
    func operation(target: BenchTarget, fleet: Fleet) -> Operation {
        let agents = fleet.agentIDs.count
        let relays = fleet.relayIDs.count
        switch self {
        case .noop:
            return { worker, _ in
                _ = try await target.noop(worker).unary(
                    request: ClientRequest(message: EmptyMessage()),
                    descriptor: NoopService.method,
                    serializer: EmptyMessageCoder(),
                    deserializer: EmptyMessageCoder(),
                    options: .defaults
                ) { try $0.message }
            }
        case .heartbeatAgent:
            return { worker, sequence in
                var request = Aeroarc_Registry_V1_HeartbeatAgentRequest()
                let index = sequence % agents
                request.agentID = fleet.agentIDs[index]
                request.relayID = fleet.homeRelay(ofAgent: index)
                _ = try await target.registry(worker).heartbeatAgent(request)
            }
        case .heartbeatRelay:
            return { worker, sequence in
                var request = Aeroarc_Registry_V1_HeartbeatRelayRequest()
                request.relayID = fleet.relayIDs[sequence % relays]
                _ = try await target.registry(worker).heartbeatRelay(request)
            }
        case .registerAgent:
            return { worker, sequence in
                // Each pass over the agents puts every agent on the next relay over.
                var request = Aeroarc_Registry_V1_RegisterAgentRequest()
                let index = sequence % agents
                request.agent.agentID = fleet.agentIDs[index]
                request.relayID = fleet.relayIDs[(index + sequence / agents + 1) % relays]
                _ = try await target.registry(worker).registerAgent(request)
            }
        case .listPlacements:
            let expected = min(1_000, agents)
            return { worker, _ in
                var request = Aeroarc_Registry_Fleet_V1_ListPlacementsRequest()
                request.pageSize = 1_000
                let response = try await target.fleet(worker).listPlacements(request)
                guard response.placements.count == expected else {
                    throw RPCError(code: .dataLoss, message: "listed \(response.placements.count) placements, expected \(expected)")
                }
            }
        case .getPlacement:
            return { worker, sequence in
                var request = Aeroarc_Registry_V1_GetAgentPlacementRequest()
                request.agentID = fleet.agentIDs[(sequence &* 7919) % agents]
                _ = try await target.registry(worker).getAgentPlacement(request)
            }
        case .listAgents:
            return { worker, _ in
                let response = try await target.registry(worker).listAgents(Aeroarc_Registry_V1_ListAgentsRequest())
                guard response.agents.count == agents else {
                    throw RPCError(code: .dataLoss, message: "listed \(response.agents.count) agents, expected \(agents)")
                }
            }
        case .listRelays:
            return { worker, _ in
                let response = try await target.registry(worker).listRelays(Aeroarc_Registry_V1_ListRelaysRequest())
                guard response.relays.count == relays else {
                    throw RPCError(code: .dataLoss, message: "listed \(response.relays.count) relays, expected \(relays)")
                }
            }
        case .fleet, .fleetSync, .expiry, .outage:
            preconditionFailure("\(self) combines several operations")
        }
    }
}
