public import RegistryCore

/// The relay a sync renewed: its key, incarnation and the ModifyIndex its renewal left.
struct ConsulSyncedRelay: Sendable {
    var key: String
    var incarnation: UInt64
    var modifyIndex: UInt64
    var started: Bool
    /// Started in place of a stored incarnation that had expired (as `registerRelay`'s
    /// `recreated`), not of an absent key.
    var recreated: Bool
    /// The incarnation is draining (as the relay step left it).
    var draining: Bool
}

/// A chunk's agents lost, by their position in the request.
private typealias PositionedLosses = [(position: Int, loss: AgentLoss)]

/// An agent a sync writes: the decision, and whether the write moves the agent off a live
/// placement on another relay (``ConsulSyncRules/moves(_:agent:otherRelays:)``).
private typealias AgentWrite = (item: ConsulSyncItem, decision: ConsulAgentDecision, moves: Bool)

extension ConsulBackend {
    /// Most agents in one write transaction: 64 operations less the relay's `check-index`
    /// and a capacity guard's `cas`.
    static var agentsPerSyncTransaction: Int { Self.maximumTransactionOperations - 2 }
    /// Most other relays read in the relay step's txn: 64 operations less the relay's
    /// `delete-cas` (or a capacity guard's `cas`) and its `cas`.
    static var relayStepReads: Int { Self.maximumTransactionOperations - 2 }

    /// A sync in three waves of requests (docs/consul-backend.md, "SyncRelay"):
    /// 1. the relay and every agent, read with `get-or-empty` in read-only transactions of 64,
    ///    concurrently;
    /// 2. the relay step: one txn (`cas` at the ModifyIndex read; `delete-cas` + `cas 0`
    ///    for an expired relay, so it gets a new CreateIndex; the capacity guard for a new one)
    ///    that also reads, with `get-or-empty`, the other relays that placements move agents
    ///    off (up to ``relayStepReads``, to tell which moves were off a live placement), and
    ///    meanwhile the other relays that renewals name (and placements beyond those), when
    ///    there are any;
    /// 3. the agents, in txns of up to 62, concurrently: each starts with `check-index` on the
    ///    relay at the ModifyIndex the relay step left, so nothing commits on an incarnation
    ///    that ended or changed meanwhile, and writes each agent with `cas` at the ModifyIndex
    ///    it was judged by, so a renewal never overwrites a concurrent move.
    /// A chunk that loses a race is read again (one read-only txn) and decided again; the
    /// relay step and each agent's write are atomic, the whole sync is not.
    public func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult {
        try await self.reporting {
            let now = self.clock.now().rawValue
            let relayKey = self.keys.relay(sync.relayID)
            var items: [ConsulSyncItem] = []
            items.reserveCapacity(sync.place.count + sync.renew.count)
            for (position, id) in (sync.place + sync.renew).enumerated() {
                items.append(ConsulSyncItem(position: position, id: id, key: self.keys.agent(id), placing: position < sync.place.count))
            }
            let entries = try await self.readEntries([relayKey] + items.map(\.key))
            let decoder = ConsulRecordCoder.makeDecoder()
            let agents = items.map { item in entries[item.key].flatMap { self.coder.agent($0, id: item.id, decoder: decoder) } }
            // The relays that renewals of agents placed elsewhere depend on, read while the relay
            // is written; those that placements move agents off, read by the relay step's txn.
            var renewalRelayIDs = Set<RelayID>()
            var placementRelayIDs = Set<RelayID>()
            let provisional = ConsulSyncRules(relayID: sync.relayID, incarnation: 0, now: now, agentDeadline: self.agentDeadline(now))
            for (item, agent) in zip(items, agents) {
                if item.placing {
                    if let other = provisional.relayToRead(placing: agent) { placementRelayIDs.insert(other) }
                } else if let other = provisional.relayToRead(renewing: agent) {
                    renewalRelayIDs.insert(other)
                }
            }
            let placementOnly = Array(placementRelayIDs.subtracting(renewalRelayIDs))
            let readByRelayStep = Array(placementOnly.prefix(Self.relayStepReads))
            let otherRelayIDsToRead = renewalRelayIDs.union(placementOnly.dropFirst(Self.relayStepReads))
            async let otherRelays = self.readRelays(otherRelayIDsToRead)
            let (relay, relaysReadByStep) = try await self.syncRelayStep(sync, read: entries[relayKey], now: now, alsoReading: readByRelayStep)
            var rules = provisional
            rules.incarnation = relay.incarnation
            rules.draining = relay.draining
            let (losses, moved) = try await self.syncAgents(
                items,
                entries: entries,
                agents: agents,
                otherRelays: try await otherRelays.merging(relaysReadByStep) { read, _ in read },
                relay: relay,
                rules: rules
            )
            return RelaySyncResult(
                incarnation: RelayIncarnation(relay.incarnation),
                relayStarted: relay.started,
                movedAgents: moved,
                relayRecreated: relay.recreated,
                lost: losses.sorted { $0.position < $1.position }.map { LostAgent(agentID: items[$0.position].id, reason: $0.loss) },
                relayExpires: UnixMilliseconds(self.relayDeadline(now)),
                now: UnixMilliseconds(now)
            )
        }
    }

    /// Registers or renews the relay in one txn, judged from `read` (the first time) or a
    /// fresh consistent read (after a lost race), and reads the relays `alsoReading` names
    /// in the same txn (at most ``relayStepReads``; missing or unreadable ones are absent
    /// from the answer). Nothing changes when it throws.
    private func syncRelayStep(
        _ sync: RelaySync,
        read: ConsulKVEntry?,
        now: Int64,
        alsoReading otherRelayIDs: [RelayID]
    ) async throws -> (relay: ConsulSyncedRelay, otherRelays: [RelayID: StoredRelay]) {
        let key = self.keys.relay(sync.relayID)
        return try await self.retrying("sync relay \(sync.relayID)") { retry in
            let entry = retry ? try await self.client.get(key, consistent: true) : read
            let stored = entry.flatMap { self.coder.relay($0, id: sync.relayID) }
            var record: ConsulRelayRecord
            var operations: [ConsulTxnOperation] = []
            let live = stored?.isLive(at: now) ?? false
            if let stored, live {
                record = stored.record
                if let endpoint = sync.endpoint {
                    record.address = endpoint.address
                    record.grpcPort = endpoint.grpcPort
                }
            } else {
                guard let endpoint = sync.endpoint else {
                    throw RegistryError.notFound("relay \(sync.relayID) is not registered or has expired; sync it with its endpoint")
                }
                record = ConsulRelayRecord(address: endpoint.address, grpcPort: endpoint.grpcPort, heartbeatMilliseconds: now, expiresMilliseconds: 0)
                if let entry {
                    // Expired (or unreadable): replace the key, so that it gets a new CreateIndex.
                    operations.append(.deleteCAS(key, index: entry.modifyIndex))
                } else {
                    operations += try await self.capacity.admit(.relay, creating: "relay \(sync.relayID)", backend: self, now: now)
                }
            }
            record.heartbeatMilliseconds = now
            record.expiresMilliseconds = self.relayDeadline(now)
            operations.append(.cas(key, index: live ? entry?.modifyIndex ?? 0 : 0, value: try self.coder.encode(record)))
            operations += otherRelayIDs.map { .getOrEmpty(self.keys.relay($0)) }
            guard case .applied(let results) = try await self.client.transaction(operations) else { return nil }
            guard let written = results.last(where: { $0.key == key }), written.exists else {
                throw RegistryError.unavailable("\(self.client.storeName) did not return the indexes of relay \(sync.relayID) it wrote")
            }
            var otherRelays: [RelayID: StoredRelay] = [:]
            if !otherRelayIDs.isEmpty {
                let read = Dictionary(results.filter(\.exists).map { ($0.key, $0) }, uniquingKeysWith: { $1 })
                for id in otherRelayIDs {
                    if let entry = read[self.keys.relay(id)], let relay = self.coder.relay(entry, id: id) {
                        otherRelays[id] = relay
                    }
                }
            }
            let synced = ConsulSyncedRelay(
                key: key,
                incarnation: written.createIndex,
                modifyIndex: written.modifyIndex,
                started: !live,
                recreated: !live && entry != nil,
                draining: record.isDraining
            )
            return (synced, otherRelays)
        }
    }

    /// Decides every agent, then writes those kept in chunks: concurrently, except creations
    /// that must be counted against the agent limit, which go one chunk after another so that
    /// each chunk's count sees the previous one's creations. Returns the agents lost and how
    /// many written moved off a live placement on another relay.
    private func syncAgents(
        _ items: [ConsulSyncItem],
        entries: [String: ConsulKVEntry],
        agents: [StoredAgent?],
        otherRelays: [RelayID: StoredRelay],
        relay: ConsulSyncedRelay,
        rules: ConsulSyncRules
    ) async throws -> (losses: PositionedLosses, moved: Int) {
        guard !items.isEmpty else { return ([], 0) }
        var losses: PositionedLosses = []
        var moved = 0
        var writes: [AgentWrite] = []
        for (item, agent) in zip(items, agents) {
            let decision = rules.decide(item, entry: entries[item.key], agent: agent, otherRelays: otherRelays)
            if case .lost(let loss) = decision {
                losses.append((item.position, loss))
            } else {
                writes.append((item, decision, rules.moves(item, agent: agent, otherRelays: otherRelays)))
            }
        }
        let creations = writes.count { $0.decision.createsKey }
        let chunkSize = Self.agentsPerSyncTransaction
        if creations == 0 || self.capacity.admitWithoutCounting(.agent, count: creations) {
            let chunks = writes.chunked(into: chunkSize)
            for outcome in try await self.concurrently(chunks, { chunk in
                try await self.commitAgents(chunk, relay: relay, rules: rules, admitted: true, creationsAllowed: true)
            }) {
                losses += outcome.losses
                moved += outcome.moved
            }
            return (losses, moved)
        }
        // Near the agent limit: creations are counted chunk by chunk, in request order.
        let creating = writes.filter { $0.decision.createsKey }.chunked(into: chunkSize)
        async let counted: (losses: PositionedLosses, moved: Int) = {
            var counted: PositionedLosses = []
            var moved = 0
            var allowed = true
            for chunk in creating {
                let outcome = try await self.commitAgents(chunk, relay: relay, rules: rules, admitted: false, creationsAllowed: allowed)
                counted += outcome.losses
                moved += outcome.moved
                allowed = allowed && !outcome.limitReached
            }
            return (counted, moved)
        }()
        let others = writes.filter { !$0.decision.createsKey }.chunked(into: chunkSize)
        for outcome in try await self.concurrently(others, { chunk in
            try await self.commitAgents(chunk, relay: relay, rules: rules, admitted: false, creationsAllowed: true)
        }) {
            losses += outcome.losses
            moved += outcome.moved
        }
        let creatingOutcome = try await counted
        return (losses + creatingOutcome.losses, moved + creatingOutcome.moved)
    }

    /// Writes one chunk of agents in one txn: `check-index` on the relay, the capacity
    /// guard's `cas` when the chunk creates keys that were not admitted yet, and a `cas` per
    /// agent. When Consul rolls it back, the relay and the chunk's agents are read again in
    /// one consistent read-only txn and decided again (with the other relays that renewals
    /// and placements then name, read in one more txn when there are any).
    /// - Returns: the agents lost, how many written moved off a live placement on another
    ///   relay, and whether the agent limit was found reached.
    /// - Parameters:
    ///   - admitted: creations in `chunk` were already admitted against the limit.
    ///   - creationsAllowed: false once the limit was found reached: creations are lost.
    private func commitAgents(
        _ chunk: [AgentWrite],
        relay: ConsulSyncedRelay,
        rules: ConsulSyncRules,
        admitted: Bool,
        creationsAllowed: Bool
    ) async throws -> (losses: PositionedLosses, moved: Int, limitReached: Bool) {
        var relay = relay
        var rules = rules
        var pending = chunk
        var losses: PositionedLosses = []
        var limitReached = !creationsAllowed
        var admitted = admitted
        for attempt in 0..<self.maximumAttempts {
            var operations: [ConsulTxnOperation] = [.checkIndex(relay.key, index: relay.modifyIndex)]
            let creations = pending.filter { $0.decision.createsKey }
            if !creations.isEmpty && !admitted {
                let admission =
                    limitReached
                    ? ConsulCapacityGuard.Admission(admitted: 0, operations: [])
                    : try await self.capacity.admit(.agent, count: creations.count, backend: self, now: rules.now)
                operations += admission.operations
                if admission.admitted < creations.count {
                    // The first creations in request order keep their places.
                    let refused = Set(creations.dropFirst(admission.admitted).map(\.item.position))
                    losses += refused.sorted().map { ($0, .capacity) }
                    pending.removeAll { refused.contains($0.item.position) }
                    limitReached = true
                }
            }
            admitted = false
            guard !pending.isEmpty else { return (losses, 0, limitReached) }
            for (item, decision, _) in pending {
                if case .write(let record, let index) = decision {
                    operations.append(.cas(item.key, index: index, value: try self.coder.encode(record)))
                }
            }
            if case .applied = try await self.client.transaction(operations) {
                return (losses, pending.count { $0.moves }, limitReached)
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...min(1 << attempt, 50))))
            // Lost a race: judge the chunk again from one consistent snapshot.
            let fresh = try await self.client.transaction(
                [.getOrEmpty(relay.key)] + pending.map { .getOrEmpty($0.item.key) },
                consistent: true
            )
            guard case .applied(let results) = fresh else {
                throw RegistryError.unavailable("\(self.client.storeName) rolled back a read-only transaction")
            }
            let entries = Dictionary(results.filter(\.exists).map { ($0.key, $0) }, uniquingKeysWith: { $1 })
            guard let relayEntry = entries[relay.key], let current = self.coder.relay(relayEntry, id: rules.relayID),
                current.incarnation == relay.incarnation, current.isLive(at: rules.now)
            else {
                // The incarnation synced ended meanwhile: nothing more is kept on it.
                return (losses + pending.map { ($0.item.position, .notLive) }, 0, limitReached)
            }
            relay.modifyIndex = current.modifyIndex
            // A drain begun (or ended) meanwhile changed the relay's ModifyIndex: decide again by it.
            rules.draining = current.record.isDraining
            let agents = pending.map { write in entries[write.item.key].flatMap { self.coder.agent($0, id: write.item.id) } }
            let others = Set(zip(pending, agents).compactMap { $0.item.placing ? rules.relayToRead(placing: $1) : rules.relayToRead(renewing: $1) })
            let otherRelays = try await self.readRelays(others, consistent: true)
            var decided: [AgentWrite] = []
            for (entry, agent) in zip(pending, agents) {
                let decision = rules.decide(entry.item, entry: entries[entry.item.key], agent: agent, otherRelays: otherRelays)
                if case .lost(let loss) = decision {
                    losses.append((entry.item.position, loss))
                } else {
                    decided.append((entry.item, decision, rules.moves(entry.item, agent: agent, otherRelays: otherRelays)))
                }
            }
            pending = decided
        }
        throw RegistryError.unavailable(
            "could not sync agents of relay \(rules.relayID): \(self.client.storeName) reported conflicting concurrent changes \(self.maximumAttempts) times"
        )
    }
}
