public import RegistryCore

extension ConsulBackend {
    /// Two waves of read-only txns of up to 64 `get-or-empty`, each wave concurrent: the
    /// agents, then the distinct relays they name (an agent is judged against its relay read
    /// after it, as ``placement(of:)`` does). At most 1,000 IDs: 16 + up to 16 txns.
    public func placements(of ids: [AgentID]) async throws -> PlacementLookup {
        try await self.reporting {
            let now = self.clock.now().rawValue
            var placements: [FleetPlacement] = []
            var missing: [AgentID] = []
            for (id, placement) in zip(ids, try await self.livePlacements(of: ids, now: now)) {
                if let placement {
                    placements.append(placement)
                } else {
                    missing.append(id)
                }
            }
            return PlacementLookup(placements: placements, missing: missing, asOf: UnixMilliseconds(now))
        }
    }

    /// The placement of each of `ids` that is live at `now` (nil for the others), in order,
    /// from the two waves of chunked reads ``placements(of:)`` describes.
    func livePlacements(of ids: [AgentID], now: Int64) async throws -> [FleetPlacement?] {
        let entries = try await self.readEntries(ids.map { self.keys.agent($0) })
        let decoder = ConsulRecordCoder.makeDecoder()
        let agents = ids.map { id in entries[self.keys.agent(id)].flatMap { self.coder.agent($0, id: id, decoder: decoder) } }
        var relayIDs = Set<RelayID>()
        for case let agent? in agents where now < agent.record.expiresMilliseconds {
            relayIDs.insert(agent.relayID)
        }
        let relays = try await self.readRelays(relayIDs)
        return agents.map { agent in
            guard let agent, let relay = relays[agent.relayID], agent.isLive(at: now, relay: relay) else { return nil }
            return Self.fleetPlacement(agent, relay: relay)
        }
    }

    /// Pages of every relay's agents are read by key (``keyedPlacementPage(after:limit:now:)``);
    /// pages of one relay's agents, larger pages, and pages the keyed read could not fill
    /// take one recursive read of the prefix (relays and agents at one Consul index),
    /// filtered for liveness and the relay, the IDs after `after` sorted by bytes. Consul's
    /// KV has no "start after" or "limit" and our keys (base64url) do not sort in ID order,
    /// so a page costs a listing of the whole registry either way (docs/consul-backend.md,
    /// "Paging").
    public func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> {
        try await self.reporting {
            let now = self.clock.now().rawValue
            if relayID == nil, limit <= Self.maximumKeyedPage, let page = try await self.keyedPlacementPage(after: after, limit: limit, now: now) {
                return page
            }
            let contents = try await self.readAll()
            var placements: [FleetPlacement] = []
            for agent in contents.agents {
                guard relayID.map({ agent.relayID == $0 }) ?? true, after.map({ $0 < agent.id }) ?? true,
                    let relay = contents.relays[agent.relayID], agent.isLive(at: now, relay: relay)
                else { continue }
                placements.append(Self.fleetPlacement(agent, relay: relay))
            }
            placements.sortByIdentifier(\.agentID)
            let hasMore = placements.count > limit
            return Page(entries: Array(placements.prefix(limit)), hasMore: hasMore, asOf: UnixMilliseconds(now))
        }
    }

    /// The largest page read by key: past it, the chunked reads of the page (one txn per 64
    /// agents) cost more than one recursive read.
    static var maximumKeyedPage: Int { 1_024 }

    /// A page of every relay's agents from the agent keys alone: `GET ?keys` of the agent
    /// folder (key names only, no values, about a fifth of a recursive read), the IDs after
    /// `after` sorted by bytes, then the first `limit` of them and a margin for entries that
    /// turn out not to be live read as ``placements(of:)`` reads (two waves of chunked txns).
    /// - Returns: nil when more than the margin was not live and more IDs follow: the page
    ///   cannot be filled this way.
    func keyedPlacementPage(after: AgentID?, limit: Int, now: Int64) async throws -> Page<FleetPlacement>? {
        var ids: [AgentID] = []
        for key in try await self.client.keys(prefix: self.keys.folder(.agent)) {
            if case .agent(let id) = self.keys.parse(key), after.map({ $0 < id }) ?? true {
                ids.append(id)
            }
        }
        ids.sortByIdentifier { $0 }
        let window = Array(ids.prefix(limit + limit / 4 + 8))
        let live = try await self.livePlacements(of: window, now: now).compactMap { $0 }
        if live.count >= limit || window.count == ids.count {
            return Page(entries: Array(live.prefix(limit)), hasMore: live.count > limit || window.count < ids.count, asOf: UnixMilliseconds(now))
        }
        return nil
    }

    /// One recursive read of the prefix per page: a relay's live agent count needs every
    /// agent anyway, with nothing in Consul to count them by relay.
    public func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> {
        try await self.reporting {
            let now = self.clock.now().rawValue
            let contents = try await self.readAll()
            var counts: [RelayID: Int] = [:]
            for agent in contents.agents where agent.isLive(at: now, relay: contents.relays[agent.relayID]) {
                counts[agent.relayID, default: 0] += 1
            }
            var statuses: [RelayStatus] = []
            for stored in contents.relays.values where stored.isLive(at: now) && (after.map { $0 < stored.id } ?? true) {
                guard let relay = stored.relay else { continue }
                statuses.append(
                    RelayStatus(
                        relay: relay,
                        expires: UnixMilliseconds(stored.record.expiresMilliseconds),
                        incarnation: RelayIncarnation(stored.incarnation),
                        agentCount: counts[stored.id] ?? 0,
                        draining: stored.record.isDraining
                    )
                )
            }
            statuses.sortByIdentifier(\.relay.id)
            let hasMore = statuses.count > limit
            return Page(entries: Array(statuses.prefix(limit)), hasMore: hasMore, asOf: UnixMilliseconds(now))
        }
    }

    /// What the fleet API reports about a live agent on `relay`.
    static func fleetPlacement(_ agent: StoredAgent, relay: StoredRelay) -> FleetPlacement {
        FleetPlacement(
            agentID: agent.id,
            relayID: agent.relayID,
            lastHeartbeat: UnixMilliseconds(agent.record.heartbeatMilliseconds),
            expires: UnixMilliseconds(min(agent.record.expiresMilliseconds, relay.record.expiresMilliseconds)),
            relayIncarnation: RelayIncarnation(agent.record.relayIncarnation)
        )
    }
}
