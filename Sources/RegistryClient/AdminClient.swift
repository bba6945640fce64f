public import GRPCCore
public import GRPCNIOTransportHTTP2
public import RegistryCore
import RegistryProtos

/// A typed client of `aeroarc.registry.fleet.v1.RegistryAdmin`.
public struct AdminClient: Sendable {
    private let stub: Aeroarc_Registry_Fleet_V1_RegistryAdmin.Client<HTTP2ClientTransport.Posix>
    private let options: CallOptions

    /// Wraps a running gRPC client; every call gets `timeout` as its deadline.
    public init(wrapping client: GRPCClient<HTTP2ClientTransport.Posix>, timeout: Duration? = .seconds(10)) {
        self.stub = Aeroarc_Registry_Fleet_V1_RegistryAdmin.Client(wrapping: client)
        var options = CallOptions.defaults
        options.timeout = timeout
        self.options = options
    }

    /// The server's status now.
    public func status() async throws -> RegistryStatus {
        let response = try await self.stub.getStatus(Aeroarc_Registry_Fleet_V1_GetStatusRequest(), options: self.options)
        return RegistryStatus(response)
    }

    /// Ends a live relay and its agents at once; returns how many live agents it had.
    /// NOT_FOUND when the relay is unknown or expired.
    @discardableResult
    public func deregisterRelay(id: String) async throws -> Int64 {
        var request = Aeroarc_Registry_Fleet_V1_DeregisterRelayRequest()
        request.relayID = id
        return try await self.stub.deregisterRelay(request, options: self.options).agentsRemoved
    }

    /// Ends a live agent's placement; with `relayID`, only if it is placed there.
    public func deregisterAgent(id: String, relayID: String? = nil) async throws {
        var request = Aeroarc_Registry_Fleet_V1_DeregisterAgentRequest()
        request.agentID = id
        request.relayID = relayID ?? ""
        _ = try await self.stub.deregisterAgent(request, options: self.options)
    }

    /// Starts draining a live relay: it keeps its agents but takes no new placements.
    public func drainRelay(id: String) async throws {
        var request = Aeroarc_Registry_Fleet_V1_DrainRelayRequest()
        request.relayID = id
        _ = try await self.stub.drainRelay(request, options: self.options)
    }

    /// Lets a drained relay take placements again.
    public func undrainRelay(id: String) async throws {
        var request = Aeroarc_Registry_Fleet_V1_UndrainRelayRequest()
        request.relayID = id
        _ = try await self.stub.undrainRelay(request, options: self.options)
    }
}

/// What `GetStatus` reports, with the JSON field names `registryctl status --output json` prints.
public struct RegistryStatus: Sendable, Codable, Equatable {
    public struct Store: Sendable, Codable, Equatable {
        public var backend: String
        public var up: Bool
        public var downSinceUnixMs: Int64?
        public var lastError: String?
        public var outages: UInt64
    }

    public struct Fleet: Sendable, Codable, Equatable {
        public var relays: Int64
        public var agents: Int64
        public var asOfUnixMs: Int64
    }

    public struct Outage: Sendable, Codable, Equatable {
        public var endedUnixMs: Int64
        public var lengthMs: Int64
        public var graceMs: Int64
    }

    public var version: String
    public var startedUnixMs: Int64
    public var serverTimeUnixMs: Int64
    public var store: Store
    public var relayTTLMs: Int64
    public var agentTTLMs: Int64
    public var maxRelays: Int64
    public var maxAgents: Int64
    /// Nil before the server's first count of the fleet.
    public var fleet: Fleet?
    /// Nil when no outage has ended since the server started.
    public var lastOutage: Outage?
    public var outageGraceMaxMs: Int64
    public var staleReads: Bool

    enum CodingKeys: String, CodingKey {
        case version, store, fleet
        case startedUnixMs = "started_unix_ms"
        case serverTimeUnixMs = "server_time_unix_ms"
        case relayTTLMs = "relay_ttl_ms"
        case agentTTLMs = "agent_ttl_ms"
        case maxRelays = "max_relays"
        case maxAgents = "max_agents"
        case lastOutage = "last_outage"
        case outageGraceMaxMs = "outage_grace_max_ms"
        case staleReads = "stale_reads"
    }

    init(_ message: Aeroarc_Registry_Fleet_V1_GetStatusResponse) {
        self.version = message.version
        self.startedUnixMs = message.startedUnixMs
        self.serverTimeUnixMs = message.serverTimeUnixMs
        self.store = Store(
            backend: message.store.backend,
            up: message.store.up,
            downSinceUnixMs: message.store.up ? nil : message.store.downSinceUnixMs,
            lastError: message.store.lastError.isEmpty ? nil : message.store.lastError,
            outages: message.store.outages
        )
        self.relayTTLMs = message.relayTtlMs
        self.agentTTLMs = message.agentTtlMs
        self.maxRelays = message.maxRelays
        self.maxAgents = message.maxAgents
        self.fleet = message.hasFleet ? Fleet(relays: message.fleet.relays, agents: message.fleet.agents, asOfUnixMs: message.fleet.asOfUnixMs) : nil
        self.lastOutage = message.hasLastOutage
            ? Outage(endedUnixMs: message.lastOutage.endedUnixMs, lengthMs: message.lastOutage.lengthMs, graceMs: message.lastOutage.graceMs)
            : nil
        self.outageGraceMaxMs = message.outageGraceMaxMs
        self.staleReads = message.staleReads
    }
}

extension RegistryStatus.Store {
    enum CodingKeys: String, CodingKey {
        case backend, up, outages
        case downSinceUnixMs = "down_since_unix_ms"
        case lastError = "last_error"
    }
}

extension RegistryStatus.Fleet {
    enum CodingKeys: String, CodingKey {
        case relays, agents
        case asOfUnixMs = "as_of_unix_ms"
    }
}

extension RegistryStatus.Outage {
    enum CodingKeys: String, CodingKey {
        case endedUnixMs = "ended_unix_ms"
        case lengthMs = "length_ms"
        case graceMs = "grace_ms"
    }
}
