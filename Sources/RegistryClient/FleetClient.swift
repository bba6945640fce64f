public import GRPCCore
public import GRPCNIOTransportHTTP2
public import RegistryCore
import RegistryProtos

/// A typed client of the `aeroarc.registry.fleet.v1.FleetRegistry` service, returning
/// domain values. Like ``RegistryClient``, requests take plain strings so the server
/// decides what is valid; failures are the server's `RPCError`s. A server without the
/// fleet service (the Go registry) answers UNIMPLEMENTED.
public struct FleetClient: Sendable {
    private let stub: Aeroarc_Registry_Fleet_V1_FleetRegistry.Client<HTTP2ClientTransport.Posix>
    private let options: CallOptions

    /// Wraps a running gRPC client; every call gets `timeout` as its deadline.
    public init(wrapping client: GRPCClient<HTTP2ClientTransport.Posix>, timeout: Duration? = .seconds(10)) {
        self.stub = Aeroarc_Registry_Fleet_V1_FleetRegistry.Client(wrapping: client)
        var options = CallOptions.defaults
        options.timeout = timeout
        self.options = options
    }

    /// What a SyncRelay answered.
    public struct SyncOutcome: Sendable, Hashable {
        public var incarnation: UInt64
        public var relayStarted: Bool
        public var lost: [LostAgent]
        public var relayExpires: UnixMilliseconds
        public var serverTime: UnixMilliseconds
        /// The server's hint of when to sync next.
        public var nextSyncAfter: Duration
    }

    /// Syncs a relay: with `endpoint`, register-or-renew it; without, renew only. Places
    /// `place` on it and renews `renew` if they are still live on it.
    public func syncRelay(
        id: String,
        endpoint: (address: String, grpcPort: Int)?,
        place: [String],
        renew: [String]
    ) async throws -> SyncOutcome {
        var request = Aeroarc_Registry_Fleet_V1_SyncRelayRequest()
        request.relayID = id
        if let endpoint {
            request.address = endpoint.address
            request.grpcPort = Int32(clamping: endpoint.grpcPort)
        }
        request.placeAgentIds = place
        request.renewAgentIds = renew
        request.timestampUnixMs = SystemWallClock().now().rawValue
        let response = try await self.stub.syncRelay(request, options: self.options)
        return SyncOutcome(
            incarnation: response.relayIncarnation,
            relayStarted: response.relayStarted,
            lost: try response.lostAgents.map { lost in
                let agent = try AgentID(validating: lost.agentID)
                switch lost.reason {
                case .placedElsewhere:
                    return LostAgent(agentID: agent, reason: .placedElsewhere(current: try RelayID(validating: lost.currentRelayID)))
                case .capacity:
                    return LostAgent(agentID: agent, reason: .capacity)
                case .relayDraining:
                    return LostAgent(agentID: agent, reason: .relayDraining)
                default:
                    return LostAgent(agentID: agent, reason: .notLive)
                }
            },
            relayExpires: UnixMilliseconds(response.relayExpiresUnixMs),
            serverTime: UnixMilliseconds(response.serverTimeUnixMs),
            nextSyncAfter: .milliseconds(max(1, response.nextSyncAfterMs))
        )
    }

    /// The placements of up to 1,000 agents: live ones in request order, and the rest.
    public func placements(of agentIDs: [String]) async throws -> PlacementLookup {
        var request = Aeroarc_Registry_Fleet_V1_GetPlacementsRequest()
        request.agentIds = agentIDs
        let response = try await self.stub.getPlacements(request, options: self.options)
        return PlacementLookup(
            placements: try response.placements.map(FleetPlacement.init),
            missing: try response.missingAgentIds.map { try AgentID(validating: $0) },
            asOf: UnixMilliseconds(response.asOfUnixMs)
        )
    }

    /// One page of live placements (of `relayID` only, when given); pass the returned
    /// token to get the next, until it is nil.
    public func listPlacements(relayID: String? = nil, pageSize: Int = 0, pageToken: String? = nil) async throws -> (page: [FleetPlacement], nextPageToken: String?, asOf: UnixMilliseconds) {
        var request = Aeroarc_Registry_Fleet_V1_ListPlacementsRequest()
        request.relayID = relayID ?? ""
        request.pageSize = Int32(clamping: pageSize)
        request.pageToken = pageToken ?? ""
        let response = try await self.stub.listPlacements(request, options: self.options)
        return (
            try response.placements.map(FleetPlacement.init),
            response.nextPageToken.isEmpty ? nil : response.nextPageToken,
            UnixMilliseconds(response.asOfUnixMs)
        )
    }

    /// One page of live relays with their agent counts.
    public func listRelayStatuses(pageSize: Int = 0, pageToken: String? = nil) async throws -> (page: [RelayStatus], nextPageToken: String?, asOf: UnixMilliseconds) {
        var request = Aeroarc_Registry_Fleet_V1_ListRelayStatusesRequest()
        request.pageSize = Int32(clamping: pageSize)
        request.pageToken = pageToken ?? ""
        let response = try await self.stub.listRelayStatuses(request, options: self.options)
        let relays = try response.relays.map { status in
            RelayStatus(
                relay: Relay(
                    id: try RelayID(validating: status.relayID),
                    endpoint: try RelayEndpoint(address: status.address, grpcPort: Int(status.grpcPort)),
                    lastHeartbeat: UnixMilliseconds(status.lastHeartbeatUnixMs)
                ),
                expires: UnixMilliseconds(status.expiresUnixMs),
                incarnation: RelayIncarnation(status.incarnation),
                agentCount: Int(status.agentCount),
                draining: status.draining
            )
        }
        return (relays, response.nextPageToken.isEmpty ? nil : response.nextPageToken, UnixMilliseconds(response.asOfUnixMs))
    }
}

extension FleetPlacement {
    init(_ placement: Aeroarc_Registry_Fleet_V1_Placement) throws {
        self.init(
            agentID: try AgentID(validating: placement.agentID),
            relayID: try RelayID(validating: placement.relayID),
            lastHeartbeat: UnixMilliseconds(placement.lastHeartbeatUnixMs),
            expires: UnixMilliseconds(placement.expiresUnixMs),
            relayIncarnation: RelayIncarnation(placement.relayIncarnation)
        )
    }
}
