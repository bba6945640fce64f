/// The fleet extension's records: one call per relay instead of one per agent, batch
/// lookups and paged lists (`aeroarc.registry.fleet.v1`, docs/contract.md).

/// Which life of a relay an entry belongs to: the same while the relay stays live, a
/// different (larger) number once it expired and was registered again. Never 0.
public struct RelayIncarnation: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(self.rawValue) }
}

/// A SyncRelay call, validated: the relay, optionally its endpoint, and its agents.
public struct RelaySync: Hashable, Sendable {
    /// The most distinct agent IDs one sync may carry.
    public static let maximumAgents = 10_000

    public var relayID: RelayID
    /// Given: register-or-renew the relay at this endpoint. Nil: renew only.
    public var endpoint: RelayEndpoint?
    /// Agents to place on this relay and renew, moving them off any other (distinct, in
    /// request order).
    public var place: [AgentID]
    /// Agents to renew only if they are live on this relay's current incarnation (distinct,
    /// in request order, none also in `place`).
    public var renew: [AgentID]

    public init(relayID: RelayID, endpoint: RelayEndpoint?, place: [AgentID], renew: [AgentID]) {
        self.relayID = relayID
        self.endpoint = endpoint
        self.place = place
        self.renew = renew
    }
}

/// Why an agent in a sync was not kept on the relay.
public enum AgentLoss: Hashable, Sendable {
    /// Unknown, expired, or placed on an earlier incarnation of this relay.
    case notLive
    /// Live on another relay; a renewal never moves an agent.
    case placedElsewhere(current: RelayID)
    /// Placing it would exceed the agent capacity.
    case capacity
    /// The relay is draining: it takes no new placements. Agents already live on it are
    /// renewed, not lost.
    case relayDraining
}

/// An agent a sync did not keep, and why.
public struct LostAgent: Hashable, Sendable {
    public var agentID: AgentID
    public var reason: AgentLoss

    public init(agentID: AgentID, reason: AgentLoss) {
        self.agentID = agentID
        self.reason = reason
    }
}

/// What a sync did.
public struct RelaySyncResult: Hashable, Sendable {
    public var incarnation: RelayIncarnation
    /// The relay started a new incarnation with this call (it was unknown or expired).
    public var relayStarted: Bool
    /// `place` agents that were live on another relay and moved onto this one: what
    /// ``RegistryBackend/registerAgent(_:on:)`` reports with a `previousRelayID`. Agents
    /// already live on this relay, unknown or expired ones, and lost ones are not counted.
    public var movedAgents: Int
    /// The relay started a new incarnation because its previous one had expired or was
    /// deregistered, not because it was unknown: exactly when ``RegistryBackend/registerRelay(_:)``
    /// would report ``RelayRegistrationResult/Outcome/recreated`` on the same backend. Only
    /// meaningful when `relayStarted`.
    ///
    /// As there, a backend can tell only while it still stores something of the previous
    /// incarnation: until the sweeper reclaims it (every backend), or until the store drops
    /// it on its own (Redis: the expired hash and its index entry; etcd: the key's lease).
    /// A deregistration removes the relay at once, so a sync after one may report false.
    public var relayRecreated: Bool
    /// Agents not kept, in request order (placements first, then renewals).
    public var lost: [LostAgent]
    /// When the relay expires unless renewed: `now` + relay TTL.
    public var relayExpires: UnixMilliseconds
    /// Registry time at which the sync was applied.
    public var now: UnixMilliseconds

    public init(
        incarnation: RelayIncarnation,
        relayStarted: Bool,
        movedAgents: Int = 0,
        relayRecreated: Bool = false,
        lost: [LostAgent],
        relayExpires: UnixMilliseconds,
        now: UnixMilliseconds
    ) {
        self.incarnation = incarnation
        self.relayStarted = relayStarted
        self.movedAgents = movedAgents
        self.relayRecreated = relayRecreated
        self.lost = lost
        self.relayExpires = relayExpires
        self.now = now
    }
}

/// A live agent's placement with what the fleet API reports about it.
public struct FleetPlacement: Hashable, Sendable {
    public var agentID: AgentID
    public var relayID: RelayID
    public var lastHeartbeat: UnixMilliseconds
    /// The earlier of the agent's and its relay's deadlines.
    public var expires: UnixMilliseconds
    public var relayIncarnation: RelayIncarnation

    public init(agentID: AgentID, relayID: RelayID, lastHeartbeat: UnixMilliseconds, expires: UnixMilliseconds, relayIncarnation: RelayIncarnation) {
        self.agentID = agentID
        self.relayID = relayID
        self.lastHeartbeat = lastHeartbeat
        self.expires = expires
        self.relayIncarnation = relayIncarnation
    }
}

/// The answer to a batch placement lookup.
public struct PlacementLookup: Hashable, Sendable {
    /// Live agents' placements, in request order.
    public var placements: [FleetPlacement]
    /// The requested agents that are not live, in request order.
    public var missing: [AgentID]
    public var asOf: UnixMilliseconds

    public init(placements: [FleetPlacement], missing: [AgentID], asOf: UnixMilliseconds) {
        self.placements = placements
        self.missing = missing
        self.asOf = asOf
    }
}

/// A live relay with what the fleet API reports about it.
public struct RelayStatus: Hashable, Sendable {
    public var relay: Relay
    public var expires: UnixMilliseconds
    public var incarnation: RelayIncarnation
    /// Live agents placed on this incarnation.
    public var agentCount: Int
    /// The relay takes no new placements (``RegistryBackend/setDraining(_:_:)``).
    public var draining: Bool

    public init(relay: Relay, expires: UnixMilliseconds, incarnation: RelayIncarnation, agentCount: Int, draining: Bool = false) {
        self.relay = relay
        self.expires = expires
        self.incarnation = incarnation
        self.agentCount = agentCount
        self.draining = draining
    }
}

/// One page of a listing in ID order (UTF-8 bytes), read with keyset paging: the next
/// page starts after the last entry's ID.
public struct Page<Element: Sendable>: Sendable {
    /// Up to the requested number of live entries, sorted by ID.
    public var entries: [Element]
    /// Whether live entries may follow the last one.
    public var hasMore: Bool
    public var asOf: UnixMilliseconds

    public init(entries: [Element], hasMore: Bool, asOf: UnixMilliseconds) {
        self.entries = entries
        self.hasMore = hasMore
        self.asOf = asOf
    }
}

extension Page: Equatable where Element: Equatable {}
