import RegistryCore

/// One agent of a sync: where it stands in the request, and whether it is placed or renewed.
struct ConsulSyncItem: Sendable {
    /// Its index in `place` followed by `renew`: the order losses are reported in.
    var position: Int
    var id: AgentID
    var key: String
    var placing: Bool
}

/// What a sync does with one agent.
enum ConsulAgentDecision: Sendable, Equatable {
    /// Write this record with `cas` at `index` (0: the key does not exist, a creation).
    case write(ConsulAgentRecord, index: UInt64)
    /// Change nothing; the agent is lost for this reason.
    case lost(AgentLoss)

    var createsKey: Bool {
        if case .write(_, index: 0) = self { return true }
        return false
    }
}

/// The rules of a sync's agent step, as a pure value: what to do with each agent given
/// what was read, tested without Consul.
struct ConsulSyncRules: Sendable {
    var relayID: RelayID
    /// The relay's current incarnation (CreateIndex), after the relay step.
    var incarnation: UInt64
    /// Registry time of the sync.
    var now: Int64
    /// The deadline of an agent renewed or placed now.
    var agentDeadline: Int64
    /// The relay's incarnation is draining: placements of agents not already live on it are lost.
    var draining = false

    /// The record of an agent placed or renewed on this relay now.
    var record: ConsulAgentRecord {
        ConsulAgentRecord(
            relayID: self.relayID.rawValue,
            relayIncarnation: self.incarnation,
            heartbeatMilliseconds: self.now,
            expiresMilliseconds: self.agentDeadline
        )
    }

    /// Whether `agent` is placed on this relay's current incarnation and within its own TTL
    /// (the relay itself is live: the sync just renewed it).
    func isLiveHere(_ agent: StoredAgent) -> Bool {
        agent.relayID == self.relayID && agent.record.relayIncarnation == self.incarnation && self.now < agent.record.expiresMilliseconds
    }

    /// The other relay whose liveness decides how a renewal of `agent` is lost: set when the
    /// agent is within its own TTL on another relay (live there: placed elsewhere; not: not live).
    func relayToRead(renewing agent: StoredAgent?) -> RelayID? {
        guard let agent, agent.relayID != self.relayID, self.now < agent.record.expiresMilliseconds else { return nil }
        return agent.relayID
    }

    /// The other relay whose liveness decides whether placing `agent` here moves it off a
    /// live placement (``moves(_:agent:otherRelays:)``): set, as for a renewal, when the
    /// agent is within its own TTL on another relay.
    func relayToRead(placing agent: StoredAgent?) -> RelayID? {
        self.relayToRead(renewing: agent)
    }

    /// Whether writing `item` moves `agent` off a live placement on another relay: what
    /// `registerAgent` reports as its `previousRelayID`. Only placements move agents.
    /// - Parameter otherRelays: the relays ``relayToRead(placing:)`` named, as read (absent: gone).
    func moves(_ item: ConsulSyncItem, agent: StoredAgent?, otherRelays: [RelayID: StoredRelay]) -> Bool {
        guard item.placing, let agent, agent.relayID != self.relayID else { return false }
        return agent.isLive(at: self.now, relay: otherRelays[agent.relayID])
    }

    /// What to do with `item`, whose key holds `entry` (nil: absent) decoded as `agent`.
    /// - Parameter otherRelays: the relays ``relayToRead(renewing:)`` named, as read (absent: gone).
    func decide(_ item: ConsulSyncItem, entry: ConsulKVEntry?, agent: StoredAgent?, otherRelays: [RelayID: StoredRelay]) -> ConsulAgentDecision {
        if item.placing {
            if self.draining {
                // A draining relay renews the agents already live on it and takes no others.
                guard let entry, let agent, self.isLiveHere(agent) else { return .lost(.relayDraining) }
                return .write(self.record, index: entry.modifyIndex)
            }
            // Placed whatever it was before (as registerAgent); the cas at the index read
            // makes a concurrent move or heartbeat of it fail this write, not interleave.
            return .write(self.record, index: entry?.modifyIndex ?? 0)
        }
        guard let entry, let agent else { return .lost(.notLive) }
        if agent.relayID == self.relayID {
            // Only the current incarnation: agents of an earlier one stay dead.
            guard self.isLiveHere(agent) else { return .lost(.notLive) }
            return .write(self.record, index: entry.modifyIndex)
        }
        if agent.isLive(at: self.now, relay: otherRelays[agent.relayID]) {
            return .lost(.placedElsewhere(current: agent.relayID))
        }
        return .lost(.notLive)
    }
}
