public import GRPCCore
public import RegistryCore
public import RegistryProtos

/// The `aeroarc.registry.v1.AeroRegistry` service: validates each request, calls the
/// ``Registry`` and maps the result to the wire. Nothing here knows which backend is in use.
public struct AeroRegistryService: Aeroarc_Registry_V1_AeroRegistry.ServiceProtocol {
    private let registry: Registry

    public init(registry: Registry) {
        self.registry = registry
    }

    public func registerRelay(
        request: ServerRequest<Aeroarc_Registry_V1_RegisterRelayRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_V1_RegisterRelayResponse> {
        _ = try await self.registry.registerRelay(try request.message.registration())
        return ServerResponse(message: Aeroarc_Registry_V1_RegisterRelayResponse())
    }

    public func heartbeatRelay(
        request: ServerRequest<Aeroarc_Registry_V1_HeartbeatRelayRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_V1_HeartbeatRelayResponse> {
        let relay = try await self.registry.heartbeatRelay(try request.message.id())
        self.recordSkew(registryTime: relay.lastHeartbeat, senderTime: request.message.timestampUnixMs)
        return ServerResponse(message: Aeroarc_Registry_V1_HeartbeatRelayResponse())
    }

    public func listRelays(
        request: ServerRequest<Aeroarc_Registry_V1_ListRelaysRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_V1_ListRelaysResponse> {
        let snapshot = try await self.registry.listRelays()
        var response = Aeroarc_Registry_V1_ListRelaysResponse()
        response.relays = snapshot.entries.map(Aeroarc_Registry_V1_Relay.init)
        return ServerResponse(message: response, metadata: self.metadata(asOf: snapshot.asOf))
    }

    public func registerAgent(
        request: ServerRequest<Aeroarc_Registry_V1_RegisterAgentRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_V1_RegisterAgentResponse> {
        let (agent, relay) = try request.message.placement()
        _ = try await self.registry.registerAgent(agent, on: relay)
        return ServerResponse(message: Aeroarc_Registry_V1_RegisterAgentResponse())
    }

    public func heartbeatAgent(
        request: ServerRequest<Aeroarc_Registry_V1_HeartbeatAgentRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_V1_HeartbeatAgentResponse> {
        let (agent, expectedRelay) = try request.message.target()
        let placement = try await self.registry.heartbeatAgent(agent, expectedRelayID: expectedRelay)
        self.recordSkew(registryTime: placement.lastUpdated, senderTime: request.message.timestampUnixMs)
        return ServerResponse(message: Aeroarc_Registry_V1_HeartbeatAgentResponse())
    }

    public func listAgents(
        request: ServerRequest<Aeroarc_Registry_V1_ListAgentsRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_V1_ListAgentsResponse> {
        let snapshot = try await self.registry.listAgents()
        var response = Aeroarc_Registry_V1_ListAgentsResponse()
        response.agents = snapshot.entries.map(Aeroarc_Registry_V1_Agent.init)
        return ServerResponse(message: response, metadata: self.metadata(asOf: snapshot.asOf))
    }

    public func getAgentPlacement(
        request: ServerRequest<Aeroarc_Registry_V1_GetAgentPlacementRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_V1_GetAgentPlacementResponse> {
        let (placement, staleAge) = try await self.registry.placementAllowingStale(of: try request.message.id())
        var response = Aeroarc_Registry_V1_GetAgentPlacementResponse()
        response.placement = Aeroarc_Registry_V1_AgentPlacement(placement)
        var metadata = self.metadata(asOf: nil)
        metadata.addStaleness(staleAge)
        return ServerResponse(message: response, metadata: metadata)
    }

    /// TTLs, and the time liveness was evaluated at, for tools that show time left.
    private func metadata(asOf: UnixMilliseconds?) -> Metadata {
        var metadata: Metadata = [
            ResponseMetadataKeys.relayTTL: "\(self.registry.ttl.relayTTLMilliseconds)",
            ResponseMetadataKeys.agentTTL: "\(self.registry.ttl.agentTTLMilliseconds)",
        ]
        if let asOf {
            metadata.addString("\(asOf.rawValue)", forKey: ResponseMetadataKeys.asOf)
        }
        return metadata
    }
}

extension AeroRegistryService {
    /// Records the sender's clock skew when it sent its time (0: not sent).
    private func recordSkew(registryTime: UnixMilliseconds, senderTime: Int64) {
        guard senderTime != 0 else { return }
        self.registry.metrics.clockSkew(registryTime: registryTime, senderTime: UnixMilliseconds(senderTime))
    }
}

extension Metadata {
    /// Marks an answer given from a replica's last confirmed state.
    mutating func addStaleness(_ age: Duration?) {
        guard let age else { return }
        self.addString("true", forKey: ResponseMetadataKeys.stale)
        self.addString("\(age.wholeMilliseconds)", forKey: ResponseMetadataKeys.staleAge)
    }
}
