public import Foundation
import Logging
public import RegistryBackendEtcd
public import RegistryCore
import ServiceLifecycle

/// Etcd backends on one manual clock, each on fresh storage: its own key prefix in a
/// shared etcd.
///
/// The backends' leases run on etcd's real clock while registry time only moves when a
/// test moves it, so leases get a long grace here: they must not remove entries that
/// registry time still counts as live. (Native lease expiry is tested on its own, on the
/// real clock.)
public struct EtcdHarness: BackendHarness {
    public let endpoints: [String]
    public let clock: ManualClock
    /// How long one store operation may take (`--etcd-timeout`).
    public var timeout: Duration = .seconds(5)

    public init(endpoints: [String], clock: ManualClock = ManualClock()) {
        self.endpoints = endpoints
        self.clock = clock
    }

    /// A harness on the etcd shared by this test process.
    public static func shared() async throws -> EtcdHarness {
        EtcdHarness(endpoints: try await SharedEtcd.instance.fixture().endpoints)
    }

    public var clockPrecision: ClockPrecision { .exact }

    /// A configuration for a fresh key prefix.
    public func configuration(prefix: String = "/aero-arc-test-\(UUID().uuidString)/") throws -> EtcdConfiguration {
        EtcdConfiguration(
            endpoints: try self.endpoints.map { try EtcdEndpoint.parse($0).endpoint },
            timeout: self.timeout,
            keyPrefix: prefix,
            leaseGrace: .seconds(600)
        )
    }

    public func withBackend<Result: Sendable>(
        ttl: TTLPolicy,
        limits: CapacityLimits,
        _ body: (any RegistryBackend) async throws -> Result
    ) async throws -> Result {
        var logger = Logger(label: "etcd-harness")
        logger.logLevel = .warning
        let backend = try EtcdBackend(configuration: try self.configuration(), ttl: ttl, limits: limits, clock: self.clock, logger: logger)
        return try await withRunningService(backend) {
            try await body(AlreadyRunningBackend(backend))
        }
    }

    public func advance(by duration: Duration) async throws {
        self.clock.advance(by: duration)
    }

    public func now() async throws -> UnixMilliseconds {
        self.clock.now()
    }
}

/// Runs `backend` while `body` runs, then cancels it.
public func withRunningService<Backend: RegistryBackend, Result: Sendable>(
    _ backend: Backend,
    _ body: () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await backend.run() }
        do {
            let result = try await body()
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// The etcd every etcd test of this process shares, started on first use and stopped
/// by its watchdog when the process ends.
public actor SharedEtcd {
    public static let instance = SharedEtcd()
    private var started: Task<EtcdFixture, any Error>?

    /// The shared single-member etcd, started if it is not running yet.
    public func fixture() async throws -> EtcdFixture {
        if let started {
            return try await started.value
        }
        let task = Task { try await EtcdFixture.start(members: 1) }
        self.started = task
        return try await task.value
    }
}

/// A backend that someone else runs: its ``run()`` only waits for shutdown, so a
/// registry application can "run" it without running it twice.
struct AlreadyRunningBackend: RegistryBackend {
    let backend: any RegistryBackend

    init(_ backend: any RegistryBackend) {
        self.backend = backend
    }

    var ttl: TTLPolicy { self.backend.ttl }
    var expiry: ExpiryMode { self.backend.expiry }
    var health: HealthReporter { self.backend.health }

    func run() async throws {
        try? await gracefulShutdown()
    }

    func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult {
        try await self.backend.registerRelay(registration)
    }

    func heartbeatRelay(_ id: RelayID) async throws -> Relay {
        try await self.backend.heartbeatRelay(id)
    }

    func listRelays() async throws -> Snapshot<Relay> {
        try await self.backend.listRelays()
    }

    func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult {
        try await self.backend.registerAgent(id, on: relayID)
    }

    func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement {
        try await self.backend.heartbeatAgent(id, expectedRelayID: expectedRelayID)
    }

    func listAgents() async throws -> Snapshot<Agent> {
        try await self.backend.listAgents()
    }

    func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult {
        try await self.backend.syncRelay(sync)
    }

    func placements(of ids: [AgentID]) async throws -> PlacementLookup {
        try await self.backend.placements(of: ids)
    }

    func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> {
        try await self.backend.listPlacements(relayID: relayID, after: after, limit: limit)
    }

    func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> {
        try await self.backend.listRelayStatuses(after: after, limit: limit)
    }

    func placement(of id: AgentID) async throws -> AgentPlacement {
        try await self.backend.placement(of: id)
    }

    func removeExpired(limit: Int) async throws -> ExpiryReport {
        try await self.backend.removeExpired(limit: limit)
    }

    func deregisterRelay(_ id: RelayID) async throws -> Int {
        try await self.backend.deregisterRelay(id)
    }

    func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws {
        try await self.backend.deregisterAgent(id, from: relayID)
    }

    func setDraining(_ id: RelayID, _ draining: Bool) async throws {
        try await self.backend.setDraining(id, draining)
    }
}
