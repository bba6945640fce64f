public import Logging
public import RegistryCore
import ServiceLifecycle
import Synchronization

/// The embedded backend: everything in this process's memory, lost when it exits.
///
/// Reads evaluate liveness exactly at read time. Expired entries are reclaimed by
/// ``removeExpired(limit:)`` (run by the server's ``ExpirySweeper``) in
/// O(expired) time thanks to a deadline-ordered index, and whenever a capacity limit
/// is reached. All state sits behind one mutex held only for in-memory work: never
/// across I/O, and lists are sorted after it is released.
///
/// Outage grace: here the store is the process itself, so an outage is a stall of this
/// process (SIGSTOP, a paused VM). While ``run()`` runs, a ticker observes the monotonic
/// clock every `tickInterval`, and so does every request; a gap of more than
/// `stallThreshold` between two observations is a stall. Before anything else is judged,
/// every relay and agent live when the stall began gets back the time it lost, up to
/// `outageGraceMax`. A quiet fleet is not a stall: only the ticker arms the detection.
///
/// Generic over its clock so that tests move time instead of sleeping.
public final class MemoryBackend<Clock: WallClock>: RegistryBackend {
    public let ttl: TTLPolicy
    public let limits: CapacityLimits
    public let expiry = ExpiryMode.sweep
    public let health = HealthReporter(.serving)
    /// The most time a stall can give back to an entry; zero turns outage grace off.
    public let outageGraceMax: Duration
    private let clock: Clock
    private let monotonicClock: any MonotonicClockSource
    private let tickInterval: Duration
    private let logger: Logger
    private let state: Mutex<GuardedState>

    /// What the mutex guards: the registry and the stall detector, observed together.
    private struct GuardedState {
        var registry: MemoryRegistryState
        var stalls: StallDetector
    }

    /// A stall and the grace it gave, logged once the lock is released.
    private struct AppliedGrace {
        var stall: StallDetector.Stall
        var graceMilliseconds: Int64
    }

    /// - Parameters:
    ///   - ttl: How long relays and agents stay live without a heartbeat.
    ///   - limits: How many relays and agents may be stored.
    ///   - clock: The registry's time, for heartbeats and deadlines.
    ///   - outageGraceMax: The most time a stall of this process gives back to each relay
    ///     and agent live when it began (issue 13); `.zero`, the default, turns outage grace
    ///     off, so a stall expires entries as if time had passed normally. Takes effect only
    ///     while ``run()`` runs.
    ///   - monotonicClock: The clock stalls are measured on.
    ///   - stallThreshold: The longest gap between two observations that is not a stall.
    ///   - tickInterval: How often ``run()`` observes the monotonic clock; well below
    ///     `stallThreshold`.
    ///   - logger: Where detected stalls are reported.
    public init(
        ttl: TTLPolicy,
        limits: CapacityLimits = CapacityLimits(),
        clock: Clock,
        outageGraceMax: Duration = .zero,
        monotonicClock: any MonotonicClockSource = SystemMonotonicClock(),
        stallThreshold: Duration = .seconds(1),
        tickInterval: Duration = .milliseconds(100),
        logger: Logger = Logger(label: "RegistryBackendMemory")
    ) {
        precondition(
            tickInterval > .zero && tickInterval < stallThreshold,
            "the tick interval must be positive and below the stall threshold"
        )
        self.ttl = ttl
        self.limits = limits
        self.outageGraceMax = max(outageGraceMax, .zero)
        self.clock = clock
        self.monotonicClock = monotonicClock
        self.tickInterval = tickInterval
        self.logger = logger
        self.state = Mutex(
            GuardedState(
                registry: MemoryRegistryState(ttl: ttl, limits: limits),
                stalls: StallDetector(threshold: stallThreshold)
            )
        )
    }

    /// With outage grace on, ticks until shutdown so that stalls of this process can be told
    /// from quiet periods; otherwise just waits for shutdown.
    public func run() async throws {
        guard self.outageGraceMax > .zero else {
            try? await gracefulShutdown()
            return
        }
        self.tick()
        defer { self.state.withLock { $0.stalls.disarm() } }
        let tickInterval = self.tickInterval
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: tickInterval)
                self.tick()
            }
        }
    }

    /// One tick of the ticker: arms the stall detection, or observes (and applies any stall).
    func tick() {
        guard self.outageGraceMax > .zero else { return }
        self.withObservedGuard { guarded, now in
            if !guarded.stalls.isArmed {
                guarded.stalls.arm(monotonic: self.monotonicClock.nowNanoseconds(), wall: now)
            }
        }
    }

    /// Whether stalls are being detected: outage grace is on and ``run()`` is ticking.
    var detectsStalls: Bool {
        self.state.withLock { $0.stalls.isArmed }
    }

    /// Runs `body` under the lock with the current time, after applying the grace of a stall
    /// that ended just now (so nothing is judged against deadlines it has not extended yet).
    private func withObservedState<Result: Sendable, Failure: Error>(
        _ body: (inout MemoryRegistryState, Int64) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try self.withObservedGuard { (guarded: inout GuardedState, now: Int64) throws(Failure) in
            try body(&guarded.registry, now)
        }
    }

    /// ``withObservedState(_:)`` with the stall detector in reach too.
    private func withObservedGuard<Result: Sendable, Failure: Error>(
        _ body: (inout GuardedState, Int64) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var applied: AppliedGrace?
        defer {
            if let applied {
                self.log(applied)
            }
        }
        return try self.state.withLock { guarded throws(Failure) in
            let now = self.clock.now().rawValue
            // One monotonic read and a compare per request; the O(n) grace only after a stall.
            if guarded.stalls.isArmed,
               let stall = guarded.stalls.observe(monotonic: self.monotonicClock.nowNanoseconds(), wall: now) {
                let stallMilliseconds = Int64(clamping: stall.lengthNanoseconds / 1_000_000)
                let grace = min(stallMilliseconds, self.outageGraceMax.wholeMilliseconds)
                guarded.registry.applyOutageGrace(startedAt: stall.startedAt, grace: grace)
                applied = AppliedGrace(stall: stall, graceMilliseconds: grace)
            }
            return try body(&guarded, now)
        }
    }

    private func log(_ applied: AppliedGrace) {
        self.logger.warning(
            "registry process stalled; live relays and agents get the lost time back",
            metadata: [
                "stall_ms": "\(applied.stall.lengthNanoseconds / 1_000_000)",
                "grace_ms": "\(applied.graceMilliseconds)",
                "outage_grace_max_ms": "\(self.outageGraceMax.wholeMilliseconds)",
                "stall_started_at": "\(UnixMilliseconds(applied.stall.startedAt))",
            ]
        )
    }

    public func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult {
        try self.withObservedState { state, now throws(RegistryError) in
            try state.registerRelay(registration, now: now)
        }
    }

    public func heartbeatRelay(_ id: RelayID) async throws -> Relay {
        try self.withObservedState { state, now throws(RegistryError) in
            try state.heartbeatRelay(id, now: now)
        }
    }

    public func listRelays() async throws -> Snapshot<Relay> {
        var (relays, now) = self.withObservedState { state, now in (state.liveRelays(now: now), now) }
        relays.sortByIdentifier(\.id)
        return Snapshot(entries: relays, asOf: UnixMilliseconds(now))
    }

    public func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult {
        try self.withObservedState { state, now throws(RegistryError) in
            try state.registerAgent(id, on: relayID, now: now)
        }
    }

    public func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement {
        try self.withObservedState { state, now throws(RegistryError) in
            try state.heartbeatAgent(id, expectedRelayID: expectedRelayID, now: now)
        }
    }

    public func listAgents() async throws -> Snapshot<Agent> {
        var (agents, now) = self.withObservedState { state, now in (state.liveAgents(now: now), now) }
        agents.sortByIdentifier(\.id)
        return Snapshot(entries: agents, asOf: UnixMilliseconds(now))
    }

    public func placement(of id: AgentID) async throws -> AgentPlacement {
        try self.withObservedState { state, now throws(RegistryError) in
            try state.placement(of: id, now: now)
        }
    }

    public func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult {
        try self.withObservedState { state, now throws(RegistryError) in
            try state.syncRelay(sync, now: now)
        }
    }

    public func placements(of ids: [AgentID]) async throws -> PlacementLookup {
        self.withObservedState { state, now in state.placements(of: ids, now: now) }
    }

    public func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> {
        self.withObservedState { state, now in
            state.listPlacements(relayID: relayID, after: after, limit: limit, now: now)
        }
    }

    public func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> {
        self.withObservedState { state, now in state.listRelayStatuses(after: after, limit: limit, now: now) }
    }

    public func deregisterRelay(_ id: RelayID) async throws -> Int {
        try self.withObservedState { state, now throws(RegistryError) in
            try state.deregisterRelay(id, now: now)
        }
    }

    public func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws {
        try self.withObservedState { state, now throws(RegistryError) in
            try state.deregisterAgent(id, from: relayID, now: now)
        }
    }

    public func setDraining(_ id: RelayID, _ draining: Bool) async throws {
        try self.withObservedState { state, now throws(RegistryError) in
            try state.setDraining(id, draining, now: now)
        }
    }

    public func removeExpired(limit: Int) async throws -> ExpiryReport {
        self.withObservedState { state, now in state.removeExpired(now: now, limit: limit) }
    }

    /// Relays and agents stored, live or not yet reclaimed.
    public var storedCounts: (relays: Int, agents: Int) {
        self.state.withLock { ($0.registry.relays.count, $0.registry.agents.count) }
    }
}

extension MemoryBackend where Clock == SystemWallClock {
    /// A backend on the system clock; see ``init(ttl:limits:clock:outageGraceMax:monotonicClock:stallThreshold:tickInterval:logger:)``
    /// for outage grace.
    public convenience init(
        ttl: TTLPolicy,
        limits: CapacityLimits = CapacityLimits(),
        outageGraceMax: Duration = .zero,
        logger: Logger = Logger(label: "RegistryBackendMemory")
    ) {
        self.init(ttl: ttl, limits: limits, clock: SystemWallClock(), outageGraceMax: outageGraceMax, logger: logger)
    }
}

extension MemoryBackend: CustomStringConvertible {
    public var description: String { "MemoryBackend" }
}
