public import Logging
public import RegistryCore
import ServiceLifecycle

/// The etcd backend: relays and agents as keys in an etcd v3 cluster, shared by every
/// registry replica pointed at it.
///
/// - Liveness: each value stores its deadline (last heartbeat + TTL, in registry time
///   from this backend's clock), and every read checks deadlines exactly, an agent's
///   together with its relay's deadline and incarnation.
/// - Garbage collection: each entry is attached to an etcd lease of ceil(TTL) + lease
///   grace + outage grace bound whole seconds (a relay's own, which also holds the agents a sync places on it, or an
///   agent's own), renewed with LeaseKeepAlive on every heartbeat, so entries leave etcd by
///   themselves even when no replica is running. Leases never decide liveness; they only
///   outlast the deadline.
/// - Atomicity: each write is one transaction guarded by compares on what it read (mod
///   revision, or absence), retried from a fresh read when a concurrent writer won.
/// - Outages: time during which etcd could not be reached does not count against TTLs
///   (outage grace, see ``EtcdOutageGrace``), applied before this replica's next call.
/// - Incarnations: a relay's incarnation is its key's create revision; an expired relay
///   registered again is deleted and created anew, so agents of the old one stay dead.
/// - Admin: deregistration deletes the relay key (one guarded transaction) or the agent
///   key; draining is a mark key per relay incarnation that every placement's transaction
///   checks (see `EtcdBackend+Admin.swift`).
///
/// Generic over its clock so tests move time instead of sleeping. See docs/etcd-backend.md.
public final class EtcdBackend<Clock: WallClock>: RegistryBackend {
    public let ttl: TTLPolicy
    public let limits: CapacityLimits
    /// Leases remove entries; ``removeExpired(limit:)`` also reclaims entries whose
    /// deadlines passed before their leases run out, but nothing needs to call it.
    public let expiry = ExpiryMode.native
    public let health: HealthReporter
    let clock: Clock
    let client: EtcdClient
    public var outageTracker: OutageTracker? { self.client.outages }
    let keys: EtcdKeySchema
    let logger: Logger
    let relayLeaseSeconds: Int64
    let agentLeaseSeconds: Int64
    /// What this backend last wrote, so heartbeats can skip reading first.
    let recent = RecentWrites(capacity: 250_000)

    /// How many times an operation reads again after losing a race to a concurrent writer.
    static var maximumAttempts: Int { 32 }
    /// Keys read per page of a range.
    static var pageSize: Int64 { 2_000 }
    /// Below this distance to a capacity limit, creations are guarded against concurrent ones.
    static var creationGuardMargin: Int { 64 }

    /// Builds the backend; nothing connects until ``run()``.
    /// - Throws: `invalidArgument` when the configuration cannot be used.
    public init(
        configuration: EtcdConfiguration,
        ttl: TTLPolicy,
        limits: CapacityLimits = CapacityLimits(),
        clock: Clock,
        logger: Logger
    ) throws(RegistryError) {
        guard !configuration.keyPrefix.isEmpty else {
            throw .invalidArgument("the etcd key prefix must not be empty")
        }
        guard configuration.timeout > .zero else {
            throw .invalidArgument("the etcd timeout must be positive")
        }
        self.ttl = ttl
        self.limits = limits
        self.clock = clock
        self.logger = logger
        let health = HealthReporter(.notServing(reason: "connecting to etcd at \(configuration.endpointsDescription)"))
        self.health = health
        let keys = EtcdKeySchema(prefix: configuration.keyPrefix)
        let grace = EtcdOutageGrace(
            keys: keys,
            bound: max(configuration.outageGraceMax.wholeMilliseconds, 0),
            now: { clock.now().rawValue },
            logger: logger
        )
        self.client = try EtcdClient(configuration: configuration, health: health, logger: logger) { since, client in
            try await grace.apply(forOutageSince: since, through: client)
        }
        self.keys = keys
        // A relay's lease also holds the agents a sync places on it (one keep-alive renews
        // them all), and an agent keeps its lease when it moves: every lease must outlast
        // an agent's deadline as well as a relay's, and whatever outage grace may add.
        let margin = configuration.leaseGrace + max(configuration.outageGraceMax, .zero)
        self.relayLeaseSeconds = Self.leaseSeconds(max(ttl.relayTTL, ttl.agentTTL), grace: margin)
        self.agentLeaseSeconds = Self.leaseSeconds(ttl.agentTTL, grace: margin)
    }

    /// Whole seconds covering `ttl` and then `grace`: etcd leases count whole seconds.
    static func leaseSeconds(_ ttl: Duration, grace: Duration) -> Int64 {
        func ceilingSeconds(_ duration: Duration) -> Int64 {
            let (seconds, attoseconds) = duration.components
            return attoseconds > 0 ? seconds + 1 : seconds
        }
        return max(ceilingSeconds(ttl) + ceilingSeconds(grace), 1)
    }

    /// Holds the connections and watches etcd's health until graceful shutdown.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.client.run() }
            group.addTask { await cancelWhenGracefulShutdown { await self.monitorHealth() } }
            try? await gracefulShutdown()
            self.client.beginGracefulShutdown()
        }
    }

    /// Registry time now, in milliseconds.
    func now() -> Int64 {
        self.clock.now().rawValue
    }

    /// Runs `attempt` until it returns a value, reading afresh each time it returns nil
    /// (it lost a race to a concurrent writer), a bounded number of times.
    func retryingConflicts<Result>(
        _ what: @autoclosure () -> String,
        _ attempt: () async throws -> Result?
    ) async throws -> Result {
        for round in 0..<Self.maximumAttempts {
            if let result = try await attempt() {
                return result
            }
            // Spread competing writers apart a little before they read again.
            try await Task.sleep(for: .microseconds(Int.random(in: 0...(100 * (round + 1)))))
        }
        throw RegistryError.unavailable(
            "\(self.client.storeDescription): \(what()) kept conflicting with concurrent updates; gave up after \(Self.maximumAttempts) attempts"
        )
    }
}

extension EtcdBackend where Clock == SystemWallClock {
    /// A backend on the system clock.
    public convenience init(
        configuration: EtcdConfiguration,
        ttl: TTLPolicy,
        limits: CapacityLimits = CapacityLimits(),
        logger: Logger
    ) throws(RegistryError) {
        try self.init(configuration: configuration, ttl: ttl, limits: limits, clock: SystemWallClock(), logger: logger)
    }
}

extension EtcdBackend: CustomStringConvertible {
    public var description: String { "EtcdBackend(\(self.client.configuration.endpointsDescription))" }
}
