import EtcdProtos
public import RegistryCore

/// SyncRelay: the relay step, then every agent's step as its own guarded transaction,
/// batched into chunked transactions that run concurrently (see docs/etcd-backend.md).
extension EtcdBackend {
    /// Agents per transaction of a sync or a lookup. etcd's `--max-txn-ops` (128 by
    /// default) bounds the longest of a transaction's compare, success and failure lists,
    /// and each nested transaction to what its parent leaves: 120 agents leave 8 to each
    /// agent's own transaction, which has up to 4 compares, 2 operations on success (the
    /// put, and for a move the previous relay's key) and 3 on failure.
    static var agentsPerTransaction: Int { 120 }
    /// Transactions one call keeps in flight at once.
    static var concurrentTransactions: Int { 16 }

    public func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult {
        let deadline = self.client.operationDeadline()
        var agents = sync.place.map { SyncedAgent(id: $0, key: self.keys.key(of: $0), kind: .place) }
            + sync.renew.map { SyncedAgent(id: $0, key: self.keys.key(of: $0), kind: .renew) }
        // What this backend last wrote saves reading first; the writes' compares check it.
        let hintedAt = self.now()
        for index in agents.indices {
            guard let remembered = self.recent.agent(agents[index].id) else { continue }
            if agents[index].kind == .place || (remembered.record.relayID == sync.relayID && hintedAt < remembered.record.deadline) {
                agents[index].state = AgentKeyState(remembered: remembered)
            }
        }
        let unread = agents.indices.filter { agents[$0].state == nil }
        let countsAgents = unread.contains { agents[$0].kind == .place }

        // The relay step and the first reads of the agents run side by side; reads change
        // nothing, so a refused relay step still leaves everything as it was.
        async let relayStep = self.upsertRelay(sync.relayID, endpoint: sync.endpoint, by: deadline)
        let unreadKeys = unread.map { agents[$0].key }
        // Placements read the relay's drain key with them (a placement the first reads
        // cannot decide is refused by its write's guard, which reads it then).
        let drainKey = countsAgents ? self.keys.drainKey(of: sync.relayID) : nil
        async let firstReads = self.readAgentKeys(unreadKeys, countingAgents: countsAgents, alsoReading: drainKey)
        let relay = try await relayStep
        let (states, counted, drain) = try await firstReads
        for (index, state) in zip(unread, states) {
            agents[index].state = state
        }

        let (losses, moved) = try await self.syncAgents(
            &agents,
            of: sync.relayID,
            relay: relay,
            counted: counted,
            draining: EtcdDrain.isDraining(drain, incarnation: relay.incarnation)
        )
        let lost = agents.indices.compactMap { index in losses[index].map { LostAgent(agentID: agents[index].id, reason: $0) } }
        return RelaySyncResult(
            incarnation: RelayIncarnation(UInt64(relay.incarnation)),
            relayStarted: relay.outcome != .renewed,
            movedAgents: moved,
            relayRecreated: relay.outcome == .recreated,
            lost: lost,
            relayExpires: UnixMilliseconds(relay.record.deadline),
            now: UnixMilliseconds(relay.record.lastHeartbeat)
        )
    }

    /// Stored agent keys, and the revision they were counted at.
    struct AgentCount: Sendable {
        var count: Int
        var revision: Int64
    }

    /// Places and renews `agents` on the relay's incarnation, round by round: each round
    /// decides every unfinished agent's step from what it last saw of its key, and runs
    /// the writes and reads in chunked transactions concurrently. A write whose compares
    /// fail returns the key as it is now, for the next round, with the relay's keys: when
    /// they show the incarnation ended, nothing more is kept on it (the agents left are lost
    /// as not live); when they show it draining, placements not already live on it are lost.
    /// Returns each agent's loss, and how many placements moved an agent off a live
    /// placement on another relay (judged by the write's own read of that relay's key).
    private func syncAgents(
        _ agents: inout [SyncedAgent],
        of relayID: RelayID,
        relay: RelayUpsert,
        counted: AgentCount?,
        draining: Bool
    ) async throws -> (losses: [AgentLoss?], moved: Int) {
        let now = relay.record.lastHeartbeat
        let relayKey = self.keys.key(of: relayID)
        let record = AgentRecord(
            deadline: now + self.ttl.agentTTLMilliseconds,
            lastHeartbeat: now,
            relayIncarnation: relay.incarnation,
            relayID: relayID
        )
        let drainKey = self.keys.drainKey(of: relayID)
        let placement = AgentPlacementWrite(
            value: record.encoded(),
            lease: relay.lease,
            relayGuards: [EtcdCompare.created(relayKey, at: relay.incarnation), EtcdCompare.live(relayKey, at: now)],
            placementGuards: [EtcdCompare.notDraining(drainKey, incarnation: relay.incarnation)],
            relayKeys: [relayKey, drainKey]
        )
        var draining = draining
        var losses = [AgentLoss?](repeating: nil, count: agents.count)
        var moved = 0
        var finished = [Bool](repeating: false, count: agents.count)
        var counted = counted
        var lease = relay.lease
        let maximumRounds = Self.maximumAttempts + agents.count / Self.agentsPerTransaction + 2
        for _ in 0..<maximumRounds {
            var chunks: [SyncChunk] = []
            var open: [SyncChunk.Entry] = []
            var creations: [Int] = []
            var checks: [RelayCheck: [Int]] = [:]
            for index in agents.indices where !finished[index] {
                let step = SyncStep.next(for: agents[index], relayID: relayID, incarnation: relay.incarnation, now: now, draining: draining)
                switch step {
                case .read:
                    open.append(.init(agent: index, key: agents[index].key, step: .read))
                case .write:
                    let modRevision = agents[index].state?.modRevision ?? 0
                    open.append(.init(agent: index, key: agents[index].key, step: .write(EtcdCompare.unmodified(agents[index].key, since: modRevision))))
                case .move:
                    let modRevision = agents[index].state?.modRevision ?? 0
                    open.append(
                        .init(
                            agent: index,
                            key: agents[index].key,
                            step: .place(EtcdCompare.unmodified(agents[index].key, since: modRevision)),
                            movingFrom: agents[index].state?.placement(elsewhereThan: relayID, now: now)
                        )
                    )
                case .create:
                    creations.append(index)
                case .lost(let reason):
                    losses[index] = reason
                    finished[index] = true
                    self.recent.remember(agents[index].id, nil)
                case .checkElsewhere(let otherRelay, let incarnation, let revision):
                    checks[RelayCheck(relayID: otherRelay, incarnation: incarnation, revision: revision), default: []].append(index)
                }
            }
            if open.isEmpty && creations.isEmpty && checks.isEmpty {
                return (losses, moved)
            }

            if !creations.isEmpty {
                let known: AgentCount
                if let counted {
                    known = counted
                } else {
                    known = try await self.countAgents()
                }
                let room = try await self.roomForAgents(creations.count, counted: known, now: now)
                for index in creations.dropFirst(room.count) {
                    losses[index] = .capacity
                    finished[index] = true
                }
                let admitted = creations.prefix(room.count).map {
                    SyncChunk.Entry(agent: $0, key: agents[$0].key, step: .place(EtcdCompare.absent(agents[$0].key)))
                }
                if let guardCompare = room.guardCompare {
                    // Near the limit: one guarded chunk per round, so that chunks of the same
                    // sync do not fail each other's guard; the rest wait for the next round.
                    chunks.append(SyncChunk(entries: Array(admitted.prefix(Self.agentsPerTransaction)), guardCompare: guardCompare))
                    counted = nil
                } else {
                    open += admitted
                    counted = AgentCount(count: known.count + admitted.count, revision: known.revision)
                }
            }
            chunks += Self.chunked(open).map { SyncChunk(entries: $0) }

            let relayChecks = Array(checks.keys)
            async let checked = self.liveIncarnations(relayChecks, now: now)
            let write = placement.on(lease: lease)
            let outcomes = try await self.concurrently(chunks) { chunk in
                try await self.run(chunk, writing: write)
            }
            for (check, live) in zip(relayChecks, try await checked) {
                for index in checks[check] ?? [] {
                    losses[index] = live ? .placedElsewhere(current: check.relayID) : .notLive
                    finished[index] = true
                }
            }
            var leaseLost = false
            var relayEnded = false
            for (chunk, outcome) in zip(chunks, outcomes) {
                switch outcome {
                case .leaseLost:
                    leaseLost = true
                case .guardFailed(let seen):
                    counted = nil
                    for (entry, state) in zip(chunk.entries, seen) {
                        agents[entry.agent].state = state
                    }
                case .ran(let results, let seen):
                    if let seen {
                        relayEnded = relayEnded || seen.ended(incarnation: relay.incarnation, now: now)
                        draining = draining || seen.draining(incarnation: relay.incarnation)
                    }
                    for (entry, result) in zip(chunk.entries, results) {
                        switch result {
                        case .written(let modRevision, let previousRelay):
                            finished[entry.agent] = true
                            if let source = entry.movingFrom, source.isLive(previousRelay, now: now) {
                                moved += 1
                            }
                            self.recent.remember(agents[entry.agent].id, StoredEntry(record: record, modRevision: modRevision, lease: write.lease))
                        case .seen(let state):
                            agents[entry.agent].state = state
                            if entry.step.writes {
                                self.recent.remember(agents[entry.agent].id, nil)
                            }
                        }
                    }
                }
            }
            if relayEnded {
                // The incarnation synced ended meanwhile (deregistered, or expired and started
                // again): nothing more is kept on it.
                for index in agents.indices where !finished[index] {
                    losses[index] = .notLive
                    finished[index] = true
                    self.recent.remember(agents[index].id, nil)
                }
                return (losses, moved)
            }
            if leaseLost {
                // The relay's lease ran out under the sync: these agents go on a fresh one
                // of the same length, which outlasts their deadlines.
                lease = try await self.client.grantLease(seconds: self.relayLeaseSeconds, by: self.client.operationDeadline())
            }
        }
        throw RegistryError.unavailable(
            "\(self.client.storeDescription): syncing relay \(relayID) kept conflicting with concurrent updates; gave up after \(maximumRounds) rounds"
        )
    }

    /// Stored agent keys now.
    func countAgents() async throws -> AgentCount {
        let response = try await self.client.range(.prefix(self.keys.agentPrefix, countOnly: true), by: self.client.operationDeadline())
        return AgentCount(count: Int(response.count), revision: response.header.revision)
    }

    /// How many of `wanted` new agents fit, and the compare their creating transaction
    /// needs (as for one agent, see `EtcdBackend+Capacity.swift`): none far from the
    /// limit; near it, that no agent was created since the count. At the limit, expired
    /// agents are reclaimed and counted again first.
    func roomForAgents(
        _ wanted: Int,
        counted: AgentCount,
        now: Int64
    ) async throws -> (count: Int, guardCompare: Etcdserverpb_Compare?) {
        let limit = self.limits.maxAgents
        var counted = counted
        if counted.count + wanted < limit - Self.creationGuardMargin {
            return (wanted, nil)
        }
        if counted.count + wanted > limit {
            let (_, agents) = try await self.scanAll(now: now)
            _ = try await self.reclaim(agents.expired)
            counted = try await self.countAgents()
        }
        let room = max(0, min(wanted, limit - counted.count))
        return (room, room > 0 ? EtcdCompare.noneCreated(in: self.keys.agentPrefix, after: counted.revision) : nil)
    }

    /// Runs `body` on every element, at most ``concurrentTransactions`` at once, and returns
    /// the results in the elements' order.
    func concurrently<Element: Sendable, Result: Sendable>(
        _ elements: [Element],
        _ body: @escaping @Sendable (Element) async throws -> Result
    ) async throws -> [Result] {
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: elements.count)
            for (index, element) in elements.enumerated() {
                if index >= Self.concurrentTransactions, let (done, result) = try await group.next() {
                    results[done] = result
                }
                group.addTask { (index, try await body(element)) }
            }
            for try await (done, result) in group {
                results[done] = result
            }
            return results.compactMap { $0 }
        }
    }
}
