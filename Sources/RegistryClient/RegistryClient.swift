public import GRPCCore
public import GRPCNIOTransportHTTP2
public import RegistryCore
import RegistryProtos

/// A typed client of the `aeroarc.registry.v1.AeroRegistry` service, returning domain values.
///
/// Requests take plain strings so that the server, not the client, decides what is valid
/// (its INVALID_ARGUMENT messages name the field). Failures are thrown as `RPCError`,
/// whose code and message are the server's.
public struct RegistryClient: Sendable {
    private let stub: Aeroarc_Registry_V1_AeroRegistry.Client<HTTP2ClientTransport.Posix>
    private let options: CallOptions
    /// The fleet extension on the same connection, with the same deadline.
    public let fleet: FleetClient
    /// The admin service on the same connection, with the same deadline.
    public let admin: AdminClient

    /// Wraps a running gRPC client; every call gets `timeout` as its deadline.
    public init(wrapping client: GRPCClient<HTTP2ClientTransport.Posix>, timeout: Duration? = .seconds(10)) {
        self.stub = Aeroarc_Registry_V1_AeroRegistry.Client(wrapping: client)
        self.fleet = FleetClient(wrapping: client, timeout: timeout)
        self.admin = AdminClient(wrapping: client, timeout: timeout)
        var options = CallOptions.defaults
        options.timeout = timeout
        self.options = options
    }

    /// Creates or renews a relay.
    public func registerRelay(id: String, address: String, grpcPort: Int) async throws {
        var request = Aeroarc_Registry_V1_RegisterRelayRequest()
        request.relay.relayID = id
        request.relay.address = address
        request.relay.grpcPort = Int32(clamping: grpcPort)
        _ = try await self.stub.registerRelay(request, options: self.options)
    }

    /// Renews a live relay; NOT_FOUND when it is unknown or expired.
    public func heartbeatRelay(id: String) async throws {
        var request = Aeroarc_Registry_V1_HeartbeatRelayRequest()
        request.relayID = id
        _ = try await self.stub.heartbeatRelay(request, options: self.options)
    }

    /// Live relays, sorted by ID.
    public func listRelays() async throws -> Listing<Relay> {
        try await self.stub.listRelays(Aeroarc_Registry_V1_ListRelaysRequest(), options: self.options) { response in
            let relays = try response.message.relays.map { relay in
                Relay(
                    id: try RelayID(validating: relay.relayID),
                    endpoint: try RelayEndpoint(address: relay.address, grpcPort: Int(relay.grpcPort)),
                    lastHeartbeat: UnixMilliseconds(relay.lastHeartbeatUnixMs)
                )
            }
            return Listing(entries: relays, timing: ResponseTiming(response.metadata))
        }
    }

    /// Places an agent on a live relay, moving it off any other.
    public func registerAgent(id: String, relayID: String) async throws {
        var request = Aeroarc_Registry_V1_RegisterAgentRequest()
        request.agent.agentID = id
        request.relayID = relayID
        _ = try await self.stub.registerAgent(request, options: self.options)
    }

    /// Renews a live agent; with `relayID`, only if it is placed on that relay.
    public func heartbeatAgent(id: String, relayID: String? = nil) async throws {
        var request = Aeroarc_Registry_V1_HeartbeatAgentRequest()
        request.agentID = id
        request.relayID = relayID ?? ""
        _ = try await self.stub.heartbeatAgent(request, options: self.options)
    }

    /// Live agents, sorted by ID. The wire contract does not carry their relays; see
    /// ``placement(of:)``.
    public func listAgents() async throws -> Listing<ListedAgent> {
        try await self.stub.listAgents(Aeroarc_Registry_V1_ListAgentsRequest(), options: self.options) { response in
            let agents = try response.message.agents.map { agent in
                ListedAgent(id: try AgentID(validating: agent.agentID), lastHeartbeat: UnixMilliseconds(agent.lastHeartbeatUnixMs))
            }
            return Listing(entries: agents, timing: ResponseTiming(response.metadata))
        }
    }

    /// The relay that owns a live agent; NOT_FOUND when the agent is not live.
    public func placement(of agentID: String) async throws -> (placement: AgentPlacement, timing: ResponseTiming) {
        var request = Aeroarc_Registry_V1_GetAgentPlacementRequest()
        request.agentID = agentID
        return try await self.stub.getAgentPlacement(request, options: self.options) { response in
            let placement = try response.message.placement
            return (
                AgentPlacement(
                    agentID: try AgentID(validating: placement.agentID),
                    relayID: try RelayID(validating: placement.relayID),
                    lastUpdated: UnixMilliseconds(placement.lastUpdatedUnixMs)
                ),
                ResponseTiming(response.metadata)
            )
        }
    }
}

/// An agent as ListAgents reports it.
public struct ListedAgent: Hashable, Sendable {
    public var id: AgentID
    public var lastHeartbeat: UnixMilliseconds
}

/// A list response: its entries and the timing the server attached.
public struct Listing<Entry: Sendable>: Sendable {
    public var entries: [Entry]
    public var timing: ResponseTiming
}

/// The TTLs and evaluation time a server attaches to read responses (see
/// ``ResponseMetadataKeys``); nil where the server sent none (e.g. the Go registry).
public struct ResponseTiming: Sendable, Hashable {
    public var relayTTL: Duration?
    public var agentTTL: Duration?
    public var asOf: UnixMilliseconds?
    /// Set when the answer came from the server's last confirmed state because its store
    /// was unreachable: how old that state is.
    public var staleAge: Duration?

    init(_ metadata: Metadata) {
        func integer(_ key: String) -> Int64? {
            metadata[stringValues: key].first(where: { _ in true }).flatMap { Int64($0) }
        }
        self.relayTTL = integer(ResponseMetadataKeys.relayTTL).map { .milliseconds($0) }
        self.agentTTL = integer(ResponseMetadataKeys.agentTTL).map { .milliseconds($0) }
        self.asOf = integer(ResponseMetadataKeys.asOf).map(UnixMilliseconds.init)
        if metadata[stringValues: ResponseMetadataKeys.stale].contains("true") {
            self.staleAge = .milliseconds(integer(ResponseMetadataKeys.staleAge) ?? 0)
        }
    }
}
