public import ServiceLifecycle

/// Storage for relays, agents and placements: the one thing a new backend implements.
///
/// Liveness, for every requirement below:
/// - a relay is live while now < its last heartbeat + the relay TTL;
/// - an agent is live while now < its last heartbeat + the agent TTL, **and** the
///   incarnation of the relay it was placed on is live. A relay registered again after
///   it expired is a new incarnation: agents placed on the old one stay dead.
///
/// "Now" is the backend's own clock (for a remote store, the store's clock, so that
/// replicas agree), never a client's. No read returns an entry that is not live,
/// whether or not expired entries have been removed yet.
///
/// Each operation is designed to be one round trip to a remote store and atomic:
/// concurrent callers never observe or produce a half-applied change.
///
/// Errors: requirements throw ``RegistryError`` only (or `CancellationError` when the
/// calling task is cancelled). A backend translates its storage failures and timeouts
/// to ``RegistryError/Code/unavailable`` with a message naming the store; anything
/// else it throws is reported to clients as an internal error.
///
/// As a `Service`, a backend's `run()` holds its connections and background work and
/// returns once graceful shutdown has been triggered and its work is drained.
public protocol RegistryBackend: Service {
    /// The TTLs this backend applies.
    var ttl: TTLPolicy { get }

    /// Whether expired entries leave storage by themselves or need ``removeExpired(limit:)``.
    var expiry: ExpiryMode { get }

    /// Whether the backend can currently serve; remote backends report losing their store here.
    var health: HealthReporter { get }

    /// This replica's outages of the store, for backends that track them (outage grace);
    /// nil for the others. Read by metrics and the status RPC.
    var outageTracker: OutageTracker? { get }

    /// Creates or updates a relay and makes it live for another relay TTL.
    ///
    /// A live relay keeps its agents. A relay whose previous registration expired starts a
    /// new incarnation with no agents.
    /// - Throws: `resourceExhausted` when creating the relay would exceed a capacity limit.
    func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult

    /// Renews a live relay for another relay TTL, keeping its endpoint and agents.
    /// - Throws: `notFound` when the relay is unknown or expired.
    func heartbeatRelay(_ id: RelayID) async throws -> Relay

    /// Every live relay, sorted by ID.
    func listRelays() async throws -> Snapshot<Relay>

    /// Places an agent on a live relay and makes it live for another agent TTL, moving it
    /// off any previous relay in the same atomic step.
    /// - Throws: `notFound` when the relay is unknown or expired; `resourceExhausted`
    ///   when creating the agent would exceed a capacity limit.
    func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult

    /// Renews a live agent for another agent TTL on the relay it is placed on. Never moves it.
    /// - Parameter expectedRelayID: when given, the heartbeat only succeeds if the agent is
    ///   placed on this relay; otherwise nothing changes.
    /// - Throws: `notFound` when the agent is unknown or not live, or is placed on another
    ///   relay than `expectedRelayID`.
    func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement

    /// Every live agent, sorted by ID.
    func listAgents() async throws -> Snapshot<Agent>

    /// The placement of a live agent.
    /// - Throws: `notFound` when the agent is unknown or not live.
    func placement(of id: AgentID) async throws -> AgentPlacement

    // MARK: The fleet extension (docs/contract.md, "Fleet API"). Each requirement costs a
    // bounded number of store round trips per call, never one per agent.

    /// Registers or renews a relay and places and renews its agents, in one call.
    ///
    /// 1. The relay: with `sync.endpoint`, register-or-renew (a live relay is renewed and
    ///    its endpoint updated; an unknown or expired one starts a new incarnation, and
    ///    `relayStarted` is true). Without it, renew only.
    /// 2. Each `sync.place` agent is placed on this relay's current incarnation and
    ///    renewed, moving it off any other relay (as ``registerAgent(_:on:)``); one that
    ///    would exceed the agent capacity is lost with ``AgentLoss/capacity``.
    /// 3. Each `sync.renew` agent is renewed only if it is live on this relay's current
    ///    incarnation; otherwise it is lost with ``AgentLoss/notLive`` (unknown, expired,
    ///    or on an earlier incarnation) or ``AgentLoss/placedElsewhere(current:)``, and
    ///    nothing about it changes. A renewal never moves an agent.
    ///
    /// The relay step and each agent's step are atomic; a concurrent reader never sees
    /// an agent on two relays. `sync` is already validated (distinct IDs, at most
    /// ``RelaySync/maximumAgents``, `place` and `renew` disjoint).
    /// - Throws: `notFound` when renewing only and the relay is not live (nothing
    ///   changes); `resourceExhausted` when creating the relay would exceed the relay
    ///   capacity (nothing changes).
    func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult

    /// The placements of the live agents among `ids` (distinct, at most 1,000), in
    /// request order, and the IDs that are not live.
    func placements(of ids: [AgentID]) async throws -> PlacementLookup

    /// Up to `limit` live agents with IDs greater than `after` (all, when nil), sorted by
    /// ID, only those on `relayID` when it is given.
    func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement>

    /// Up to `limit` live relays with IDs greater than `after` (all, when nil), sorted by
    /// ID, with their live agent counts.
    func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus>

    // MARK: Admin operations (docs/contract.md, "Admin operations"). Each is atomic and
    // costs a bounded number of store round trips, whatever the number of agents.

    /// Ends a live relay's current incarnation at once: the relay and every agent placed
    /// on it stop being live (reads never return them again). Registering the relay
    /// afterwards starts a new incarnation, on which the old agents stay dead.
    /// - Returns: how many live agents the relay had.
    /// - Throws: `notFound` when the relay is unknown or expired (nothing changes).
    func deregisterRelay(_ id: RelayID) async throws -> Int

    /// Ends a live agent's placement at once.
    /// - Parameter relayID: when given, only if the agent is live on this relay.
    /// - Throws: `notFound` when the agent is not live, or is live on another relay than
    ///   `relayID` (nothing changes).
    func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws

    /// Starts (`true`) or ends (`false`) draining a live relay. A draining relay stays live
    /// and keeps and renews its agents, but takes no new placements:
    /// ``registerAgent(_:on:)`` onto it throws `failedPrecondition` unless the agent is
    /// already live on it (then it is renewed, as a heartbeat), and ``syncRelay(_:)``
    /// loses each `place` agent not already live on it with ``AgentLoss/relayDraining``
    /// (one already live on it is renewed). Draining belongs to the incarnation: an expired
    /// or deregistered relay registered again is not draining. Renewing or
    /// re-registering a live relay keeps it. Idempotent.
    /// - Throws: `notFound` when the relay is unknown or expired.
    func setDraining(_ id: RelayID, _ draining: Bool) async throws

    /// Removes up to about `limit` expired relays and agents from storage, never one that
    /// was renewed before it was removed. Backends with ``ExpiryMode/native`` expiry may do
    /// nothing and return an empty report.
    func removeExpired(limit: Int) async throws -> ExpiryReport
}

/// How expired entries leave a backend's storage.
extension RegistryBackend {
    /// By default a backend does not track outages.
    public var outageTracker: OutageTracker? { nil }
}

public enum ExpiryMode: Hashable, Sendable {
    /// The store removes them itself (TTL keys, leases, sessions).
    case native
    /// They stay until ``RegistryBackend/removeExpired(limit:)`` is called; the server runs
    /// an ``ExpirySweeper`` for such backends.
    case sweep
}
