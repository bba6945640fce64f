import Synchronization

/// What this replica last confirmed about agents' placements, so that placement reads
/// keep being answered while the store cannot be reached (docs/degraded-operation.md).
///
/// Every successful call that shows an agent live (registration, heartbeat, sync,
/// placement read) confirms it here; a NOT_FOUND or a loss forgets it. While the store is
/// unreachable, an agent is answered from here only if it would still be live under the
/// outage-grace rule: its deadline (the earlier of its own and, when known, its relay's)
/// was after the outage began, and now is before that deadline plus the time since the
/// outage began, at most the grace bound. Answers say how old they are.
///
/// Bounded: at most `capacity` agents (the registry's `--max-agents`); when full, entries
/// that cannot be answered any more are dropped, at most once a second, and new agents
/// are not remembered until there is room.
public final class StaleReadCache: Sendable {
    /// A placement answered from the cache, and how long ago it was confirmed.
    public struct Answer<Value: Sendable>: Sendable {
        public var value: Value
        public var age: Duration
    }

    private struct AgentEntry {
        var relayID: RelayID
        var lastHeartbeat: Int64
        var deadline: Int64
        var confirmedAt: Int64
    }

    private struct RelayEntry {
        var deadline: Int64
        var incarnation: RelayIncarnation?
    }

    private struct State {
        var agents: [AgentID: AgentEntry] = [:]
        var relays: [RelayID: RelayEntry] = [:]
        /// When the first failed attempt of the current outage started, Unix ms.
        var unavailableSince: Int64?
        var lastPrune: Int64?
    }

    private let state = Mutex(State())
    private let ttl: TTLPolicy
    private let graceMax: Int64
    private let capacity: Int
    private let clock: any WallClock

    public init(ttl: TTLPolicy, graceMax: Duration, capacity: Int, clock: any WallClock = SystemWallClock()) {
        self.ttl = ttl
        self.graceMax = max(graceMax.wholeMilliseconds, 0)
        self.capacity = max(capacity, 0)
        self.clock = clock
    }

    // MARK: Learning

    /// The cache's time.
    func now() -> UnixMilliseconds {
        self.clock.now()
    }

    /// Records that the store answered: any outage is over.
    func storeAnswered() {
        self.state.withLock { state in
            if state.unavailableSince != nil { state.unavailableSince = nil }
        }
    }

    /// Records an attempt, started at `start`, that failed because the store was unreachable.
    func storeFailed(startedAt start: UnixMilliseconds) {
        self.state.withLock { state in
            state.unavailableSince = min(state.unavailableSince ?? start.rawValue, start.rawValue)
        }
    }

    /// Confirms agents live on `relayID`, last renewed at `lastHeartbeat`, with `deadline`
    /// (nil: the agent TTL after the heartbeat).
    func confirm(agents ids: some Sequence<AgentID>, on relayID: RelayID, lastHeartbeat: UnixMilliseconds, deadline: UnixMilliseconds? = nil) {
        let now = self.clock.now().rawValue
        let entryDeadline = deadline?.rawValue ?? lastHeartbeat.rawValue + self.ttl.agentTTLMilliseconds
        self.state.withLock { state in
            for id in ids {
                let entry = AgentEntry(relayID: relayID, lastHeartbeat: lastHeartbeat.rawValue, deadline: entryDeadline, confirmedAt: now)
                if state.agents.updateValue(entry, forKey: id) == nil, state.agents.count > self.capacity {
                    self.makeRoom(&state, now: now)
                    if state.agents.count > self.capacity {
                        state.agents[id] = nil
                    }
                }
            }
        }
    }

    /// Confirms a relay live until `deadline`, in `incarnation` when known.
    func confirm(relay id: RelayID, deadline: UnixMilliseconds, incarnation: RelayIncarnation? = nil) {
        self.state.withLock { state in
            let known = incarnation ?? state.relays[id]?.incarnation
            state.relays[id] = RelayEntry(deadline: deadline.rawValue, incarnation: known)
        }
    }

    /// Forgets agents the store reported not live (or lost).
    func forget(agents ids: some Sequence<AgentID>) {
        self.state.withLock { state in
            for id in ids { state.agents[id] = nil }
        }
    }

    /// Forgets a relay that was deregistered, and every agent on it. Scans the cache:
    /// deregistrations are rare.
    func forget(relay id: RelayID) {
        self.state.withLock { state in
            state.relays[id] = nil
            state.agents = state.agents.filter { $0.value.relayID != id }
        }
    }

    /// Drops every entry that could not be answered any more.
    private func makeRoom(_ state: inout State, now: Int64) {
        if let last = state.lastPrune, now - last < 1_000 { return }
        state.lastPrune = now
        let horizon = now - self.graceMax
        state.agents = state.agents.filter { $0.value.deadline > horizon }
        state.relays = state.relays.filter { $0.value.deadline > horizon }
    }

    // MARK: Answering

    /// The agent's placement, if it would be live under the grace rule now.
    func placement(of id: AgentID) -> Answer<AgentPlacement>? {
        self.answer(id) { entry, _ in
            AgentPlacement(agentID: id, relayID: entry.relayID, lastUpdated: UnixMilliseconds(entry.lastHeartbeat))
        }
    }

    /// Placements of all `ids`, if every one would be live under the grace rule now
    /// (an agent this replica cannot vouch for either way makes the whole answer
    /// unavailable: claiming it missing could be wrong). The age is the oldest one's.
    func placements(of ids: [AgentID]) -> Answer<PlacementLookup>? {
        var placements: [FleetPlacement] = []
        var oldest = Duration.zero
        for id in ids {
            let answer = self.answer(id) { entry, relay -> FleetPlacement? in
                guard let incarnation = relay?.incarnation else { return nil }
                return FleetPlacement(
                    agentID: id,
                    relayID: entry.relayID,
                    lastHeartbeat: UnixMilliseconds(entry.lastHeartbeat),
                    expires: UnixMilliseconds(min(entry.deadline, relay?.deadline ?? entry.deadline)),
                    relayIncarnation: incarnation
                )
            }
            guard let answer, let placement = answer.value else { return nil }
            placements.append(placement)
            oldest = max(oldest, answer.age)
        }
        return Answer(value: PlacementLookup(placements: placements, missing: [], asOf: self.clock.now()), age: oldest)
    }

    private func answer<Value>(_ id: AgentID, _ make: (AgentEntry, RelayEntry?) -> Value) -> Answer<Value>? {
        let now = self.clock.now().rawValue
        return self.state.withLock { state -> Answer<Value>? in
            guard let entry = state.agents[id] else { return nil }
            let relay = state.relays[entry.relayID]
            let deadline = min(entry.deadline, relay?.deadline ?? entry.deadline)
            let since = state.unavailableSince ?? now
            guard deadline > since, now < deadline + min(max(now - since, 0), self.graceMax) || now < deadline else {
                return nil
            }
            return Answer(value: make(entry, relay), age: .milliseconds(max(now - entry.confirmedAt, 0)))
        }
    }

    /// Agents remembered, for tests.
    var count: Int {
        self.state.withLock { $0.agents.count }
    }
}
