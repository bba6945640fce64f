public import GRPCCore
public import Logging
public import RegistryCore
public import RegistryProtos

/// `aeroarc.registry.fleet.v1.RegistryAdmin`: the status of this replica, for operators
/// (`registryctl status`) and tools. Everything it reports is already in memory: a status
/// call never touches the store.
public struct RegistryAdminService: Aeroarc_Registry_Fleet_V1_RegistryAdmin.SimpleServiceProtocol {
    /// What the server was started with, for the status.
    public struct Settings: Sendable {
        public var version: String
        public var backendName: String
        public var startedAt: UnixMilliseconds
        public var limits: CapacityLimits
        public var outageGraceMax: Duration
        public var staleReads: Bool

        public init(
            version: String,
            backendName: String,
            startedAt: UnixMilliseconds,
            limits: CapacityLimits,
            outageGraceMax: Duration,
            staleReads: Bool
        ) {
            self.version = version
            self.backendName = backendName
            self.startedAt = startedAt
            self.limits = limits
            self.outageGraceMax = outageGraceMax
            self.staleReads = staleReads
        }
    }

    /// The fully qualified name of the service.
    public static let serviceName = Aeroarc_Registry_Fleet_V1_RegistryAdmin.descriptor.fullyQualifiedService
    /// This build's version.
    public static let version = "0.4.0"

    let registry: Registry
    private let census: FleetCensus
    private let settings: Settings
    /// Where admin operations are audited.
    let logger: Logger

    public init(registry: Registry, census: FleetCensus, settings: Settings, logger: Logger = Logger(label: "aero-arc-registry")) {
        self.registry = registry
        self.census = census
        self.settings = settings
        self.logger = logger
    }

    public func getStatus(
        request: Aeroarc_Registry_Fleet_V1_GetStatusRequest,
        context: ServerContext
    ) async throws -> Aeroarc_Registry_Fleet_V1_GetStatusResponse {
        let backend = self.registry.backend
        var response = Aeroarc_Registry_Fleet_V1_GetStatusResponse()
        response.version = self.settings.version
        response.startedUnixMs = self.settings.startedAt.rawValue
        response.serverTimeUnixMs = SystemWallClock().now().rawValue
        response.store.backend = self.settings.backendName
        let health = backend.health
        response.store.up = health.status.isServing
        if case .notServing(let reason) = health.status {
            response.store.lastError = reason
            response.store.downSinceUnixMs = health.notServingSince?.rawValue ?? 0
        }
        response.relayTtlMs = backend.ttl.relayTTLMilliseconds
        response.agentTtlMs = backend.ttl.agentTTLMilliseconds
        response.maxRelays = Int64(self.settings.limits.maxRelays)
        response.maxAgents = Int64(self.settings.limits.maxAgents)
        if let count = self.census.latest {
            response.fleet.relays = Int64(count.relays)
            response.fleet.agents = Int64(count.agents)
            response.fleet.asOfUnixMs = count.asOf.rawValue
        }
        if let history = backend.outageTracker?.history {
            response.store.outages = UInt64(history.outages)
            if let last = history.last, let endedAt = history.lastEndedAt {
                response.lastOutage.endedUnixMs = endedAt.rawValue
                response.lastOutage.lengthMs = last.length.wholeMilliseconds
                response.lastOutage.graceMs = last.grace.wholeMilliseconds
            }
        }
        response.outageGraceMaxMs = self.settings.outageGraceMax.wholeMilliseconds
        response.staleReads = self.settings.staleReads
        return response
    }
}
