/// A live agent and the relay that owns it.
public struct Agent: Hashable, Sendable {
    public var id: AgentID
    /// The relay the agent is placed on.
    public var relayID: RelayID
    /// Registry time of the last registration or heartbeat; it also confirmed the placement.
    public var lastHeartbeat: UnixMilliseconds

    public init(id: AgentID, relayID: RelayID, lastHeartbeat: UnixMilliseconds) {
        self.id = id
        self.relayID = relayID
        self.lastHeartbeat = lastHeartbeat
    }

    /// Where this agent is placed.
    public var placement: AgentPlacement {
        AgentPlacement(agentID: self.id, relayID: self.relayID, lastUpdated: self.lastHeartbeat)
    }
}

/// Which relay currently owns an agent.
public struct AgentPlacement: Hashable, Sendable {
    public var agentID: AgentID
    public var relayID: RelayID
    /// Registry time of the last registration or heartbeat that confirmed this placement.
    public var lastUpdated: UnixMilliseconds

    public init(agentID: AgentID, relayID: RelayID, lastUpdated: UnixMilliseconds) {
        self.agentID = agentID
        self.relayID = relayID
        self.lastUpdated = lastUpdated
    }
}

/// What an agent registration did.
public struct AgentRegistrationResult: Hashable, Sendable {
    /// The agent's placement after the registration.
    public var placement: AgentPlacement
    /// The live relay the agent was moved off, if it was placed on another one.
    public var previousRelayID: RelayID?

    public init(placement: AgentPlacement, previousRelayID: RelayID?) {
        self.placement = placement
        self.previousRelayID = previousRelayID
    }
}

/// Live entries read at one instant.
public struct Snapshot<Element: Sendable>: Sendable {
    /// The entries, sorted by ID.
    public var entries: [Element]
    /// The registry time at which liveness was evaluated.
    public var asOf: UnixMilliseconds

    public init(entries: [Element], asOf: UnixMilliseconds) {
        self.entries = entries
        self.asOf = asOf
    }
}

/// What one cleanup pass removed.
public struct ExpiryReport: Hashable, Sendable {
    public var relaysRemoved: Int
    public var agentsRemoved: Int

    public init(relaysRemoved: Int = 0, agentsRemoved: Int = 0) {
        self.relaysRemoved = relaysRemoved
        self.agentsRemoved = agentsRemoved
    }

    /// Entries removed in all.
    public var total: Int { self.relaysRemoved + self.agentsRemoved }

    public static func += (lhs: inout Self, rhs: Self) {
        lhs.relaysRemoved += rhs.relaysRemoved
        lhs.agentsRemoved += rhs.agentsRemoved
    }
}
