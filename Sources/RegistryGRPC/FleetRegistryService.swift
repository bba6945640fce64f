public import GRPCCore
public import RegistryCore
public import RegistryProtos

/// The `aeroarc.registry.fleet.v1.FleetRegistry` service: one call per relay instead of
/// one per agent, batch lookups and paged lists, over the same ``Registry`` as v1 (what
/// one changes, the other sees at once). Validation, paging tokens and the mapping to the
/// wire live here; nothing knows which backend is in use.
public struct FleetRegistryService: Aeroarc_Registry_Fleet_V1_FleetRegistry.ServiceProtocol {
    private let registry: Registry
    private let pacing: SyncPacing

    /// - Parameter heartbeatInterval: the interval relays are expected to sync at
    ///   (`--heartbeat-interval`), around which `next_sync_after_ms` is jittered.
    public init(registry: Registry, heartbeatInterval: Duration) {
        self.registry = registry
        self.pacing = SyncPacing(interval: heartbeatInterval, ttl: registry.ttl)
    }

    public func syncRelay(
        request: ServerRequest<Aeroarc_Registry_Fleet_V1_SyncRelayRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_Fleet_V1_SyncRelayResponse> {
        let result = try await self.registry.syncRelay(try request.message.sync())
        if request.message.timestampUnixMs != 0 {
            self.registry.metrics.clockSkew(registryTime: result.now, senderTime: UnixMilliseconds(request.message.timestampUnixMs))
        }
        var response = Aeroarc_Registry_Fleet_V1_SyncRelayResponse()
        response.relayIncarnation = result.incarnation.rawValue
        response.relayStarted = result.relayStarted
        response.lostAgents = result.lost.map(Aeroarc_Registry_Fleet_V1_LostAgent.init)
        response.relayExpiresUnixMs = result.relayExpires.rawValue
        response.serverTimeUnixMs = result.now.rawValue
        response.nextSyncAfterMs = self.pacing.nextSyncAfterMilliseconds()
        return ServerResponse(message: response)
    }

    public func getPlacements(
        request: ServerRequest<Aeroarc_Registry_Fleet_V1_GetPlacementsRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_Fleet_V1_GetPlacementsResponse> {
        let (lookup, staleAge) = try await self.registry.placementsAllowingStale(of: try request.message.ids())
        var response = Aeroarc_Registry_Fleet_V1_GetPlacementsResponse()
        response.placements = lookup.placements.map(Aeroarc_Registry_Fleet_V1_Placement.init)
        response.missingAgentIds = lookup.missing.map(\.rawValue)
        response.asOfUnixMs = lookup.asOf.rawValue
        var metadata: Metadata = [:]
        metadata.addStaleness(staleAge)
        return ServerResponse(message: response, metadata: metadata)
    }

    public func listPlacements(
        request: ServerRequest<Aeroarc_Registry_Fleet_V1_ListPlacementsRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_Fleet_V1_ListPlacementsResponse> {
        let message = request.message
        let relayID = message.relayID.isEmpty ? nil : try RelayID(validating: message.relayID, field: "relay_id")
        let limit = try pageSize(message.pageSize)
        var after: AgentID?
        if !message.pageToken.isEmpty {
            let cursor = try PageToken.decode(message.pageToken, listing: .placements, filter: message.relayID)
            after = try AgentID(validating: cursor, field: "page_token")
        }
        let page = try await self.registry.listPlacements(relayID: relayID, after: after, limit: limit)
        var response = Aeroarc_Registry_Fleet_V1_ListPlacementsResponse()
        response.placements = page.entries.map(Aeroarc_Registry_Fleet_V1_Placement.init)
        if page.hasMore, let last = page.entries.last {
            response.nextPageToken = PageToken(listing: .placements, filter: message.relayID, cursor: last.agentID.rawValue).encoded
        }
        response.asOfUnixMs = page.asOf.rawValue
        return ServerResponse(message: response)
    }

    public func listRelayStatuses(
        request: ServerRequest<Aeroarc_Registry_Fleet_V1_ListRelayStatusesRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Aeroarc_Registry_Fleet_V1_ListRelayStatusesResponse> {
        let message = request.message
        let limit = try pageSize(message.pageSize)
        var after: RelayID?
        if !message.pageToken.isEmpty {
            let cursor = try PageToken.decode(message.pageToken, listing: .relayStatuses, filter: "")
            after = try RelayID(validating: cursor, field: "page_token")
        }
        let page = try await self.registry.listRelayStatuses(after: after, limit: limit)
        var response = Aeroarc_Registry_Fleet_V1_ListRelayStatusesResponse()
        response.relays = page.entries.map(Aeroarc_Registry_Fleet_V1_RelayStatus.init)
        if page.hasMore, let last = page.entries.last {
            response.nextPageToken = PageToken(listing: .relayStatuses, filter: "", cursor: last.relay.id.rawValue).encoded
        }
        response.asOfUnixMs = page.asOf.rawValue
        return ServerResponse(message: response)
    }
}

extension Aeroarc_Registry_Fleet_V1_LostAgent {
    init(_ lost: LostAgent) {
        self.init()
        self.agentID = lost.agentID.rawValue
        switch lost.reason {
        case .notLive:
            self.reason = .notLive
        case .placedElsewhere(let current):
            self.reason = .placedElsewhere
            self.currentRelayID = current.rawValue
        case .capacity:
            self.reason = .capacity
        case .relayDraining:
            self.reason = .relayDraining
        }
    }
}

extension Aeroarc_Registry_Fleet_V1_Placement {
    init(_ placement: FleetPlacement) {
        self.init()
        self.agentID = placement.agentID.rawValue
        self.relayID = placement.relayID.rawValue
        self.lastHeartbeatUnixMs = placement.lastHeartbeat.rawValue
        self.expiresUnixMs = placement.expires.rawValue
        self.relayIncarnation = placement.relayIncarnation.rawValue
    }
}

extension Aeroarc_Registry_Fleet_V1_RelayStatus {
    init(_ status: RelayStatus) {
        self.init()
        self.relayID = status.relay.id.rawValue
        self.address = status.relay.endpoint.address
        self.grpcPort = Int32(clamping: status.relay.endpoint.grpcPort)
        self.lastHeartbeatUnixMs = status.relay.lastHeartbeat.rawValue
        self.expiresUnixMs = status.expires.rawValue
        self.incarnation = status.incarnation.rawValue
        self.agentCount = Int64(status.agentCount)
        self.draining = status.draining
    }
}
