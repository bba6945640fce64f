import Logging
import RESP
public import RegistryCore

/// The fleet extension's operations (see `RegistryBackend`'s documentation): each is one
/// script, whatever the number of agents, so a sync is atomic as a whole.
extension RedisBackend {
    public func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult {
        let id = sync.relayID
        var arguments: [RESPArgument] = [
            RESPArgument(RedisKeySchema.encode(id)),
            sync.endpoint == nil ? "" : "1",
            RESPArgument(sync.endpoint?.address ?? ""),
            RESPArgument(sync.endpoint?.grpcPort ?? 0),
            RESPArgument(self.ttl.relayTTLMilliseconds),
            RESPArgument(self.limits.maxRelays),
            RESPArgument(self.ttl.agentTTLMilliseconds),
            RESPArgument(self.limits.maxAgents),
            RESPArgument(self.marginMilliseconds),
            RESPArgument(sync.place.count),
        ]
        arguments.reserveCapacity(arguments.count + sync.place.count + sync.renew.count)
        for agentID in sync.place {
            arguments.append(RESPArgument(RedisKeySchema.orderedMember(agentID)))
        }
        for agentID in sync.renew {
            arguments.append(RESPArgument(RedisKeySchema.orderedMember(agentID)))
        }
        let reply = try await self.evaluate(RedisScripts.syncRelay, key: self.schema.relayKey(id), arguments, operation: "sync relay")
        switch reply.status {
        case "ok":
            break
        case "full":
            throw RegistryError.resourceExhausted("relay limit of \(self.limits.maxRelays) reached; relay \(id) was not registered")
        case "missing":
            throw RegistryError.notFound("relay \(id) is not registered or has expired; sync it with its endpoint to register it again")
        default:
            throw reply.unexpected()
        }
        guard let incarnation = reply.integer(at: 2), incarnation > 0, let started = reply.integer(at: 3),
            let relayExpires = reply.integer(at: 4), let recreated = reply.integer(at: 5), let moved = reply.integer(at: 6),
            (reply.values.count - 7) % 3 == 0
        else {
            throw reply.unexpected()
        }
        var lost: [LostAgent] = []
        var index = 7
        while index < reply.values.count {
            guard let position = reply.integer(at: index).map({ Int($0) - 1 }), position >= 0,
                position < sync.place.count + sync.renew.count, let reason = reply.string(at: index + 1)
            else {
                throw reply.unexpected()
            }
            let agentID = position < sync.place.count ? sync.place[position] : sync.renew[position - sync.place.count]
            lost.append(LostAgent(agentID: agentID, reason: try self.loss(reason, relay: reply.string(at: index + 2), agent: agentID, reply: reply)))
            index += 3
        }
        return RelaySyncResult(
            incarnation: RelayIncarnation(UInt64(incarnation)),
            relayStarted: started == 1,
            movedAgents: Int(moved),
            relayRecreated: started == 1 && recreated == 1,
            lost: lost,
            relayExpires: UnixMilliseconds(relayExpires),
            now: reply.now
        )
    }

    public func placements(of ids: [AgentID]) async throws -> PlacementLookup {
        let values = try await self.evaluateRaw(
            RedisScripts.placements,
            key: self.schema.agentsIndex,
            ids.map { RESPArgument(RedisKeySchema.encode($0)) },
            operation: "look up agents"
        )
        guard values.count == 1 + 4 * ids.count, let now = values[0].int64 else {
            throw ScriptReply(values: values, script: "look up agents").unexpected()
        }
        var found: [FleetPlacement] = []
        var missing: [AgentID] = []
        for (offset, id) in ids.enumerated() {
            let fields = values[(1 + 4 * offset)..<(5 + 4 * offset)]
            if fields.first?.string?.isEmpty ?? true {
                missing.append(id)
            } else if let placement = Self.fleetPlacement(id, Array(fields)) {
                found.append(placement)
            } else {
                self.logger.warning("agent record in redis is corrupt", metadata: ["agent_id": "\(id)"])
                missing.append(id)
            }
        }
        return PlacementLookup(placements: found, missing: missing, asOf: UnixMilliseconds(now))
    }

    public func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> {
        let relay = relayID.map { RESPArgument(RedisKeySchema.encode($0)) } ?? ""
        return try await self.readOrderedPage(
            RedisScripts.listPlacements,
            index: relayID.map { self.schema.relayAgentsByIDKey($0) } ?? self.schema.agentsByIDIndex,
            leading: [relay],
            after: after,
            limit: limit,
            fields: 5,
            operation: "list placements",
            expires: \.expires
        ) { fields in
            fields[0].string.flatMap(RedisKeySchema.agentID).flatMap { Self.fleetPlacement($0, Array(fields.dropFirst())) }
        }
    }

    public func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> {
        try await self.readOrderedPage(
            RedisScripts.listRelayStatuses,
            index: self.schema.relaysByIDIndex,
            leading: [],
            after: after,
            limit: limit,
            fields: 8,
            operation: "list relay statuses",
            expires: \.expires
        ) { fields in
            guard let id = fields[0].string.flatMap(RedisKeySchema.relayID),
                let address = fields[1].string,
                let port = fields[2].int64,
                let heartbeat = fields[3].int64,
                let deadline = fields[4].int64,
                let incarnation = fields[5].int64, incarnation > 0,
                let agents = fields[6].int64,
                let draining = fields[7].int64,
                let endpoint = try? RelayEndpoint(address: address, grpcPort: Int(port))
            else {
                return nil
            }
            return RelayStatus(
                relay: Relay(id: id, endpoint: endpoint, lastHeartbeat: UnixMilliseconds(heartbeat)),
                expires: UnixMilliseconds(deadline),
                incarnation: RelayIncarnation(UInt64(incarnation)),
                agentCount: Int(agents),
                draining: draining != 0
            )
        }
    }

    // MARK: Helpers

    /// Reads one page of an ID-ordered index with `script` (see `RedisScripts.orderedWalk`).
    ///
    /// One script answers a page unless more than ``RedisBackendConfiguration/listPageSize``
    /// entries that are no longer live (not yet pruned) lie among it; then further scripts
    /// continue after the last member read, so a page is never cut short by dead entries.
    /// The page's time is the last script's; entries an earlier script found are kept
    /// only if they are still live then.
    private func readOrderedPage<Entry: Sendable>(
        _ script: RESPScript,
        index: String,
        leading: [RESPArgument],
        after: (some RegistryIdentifier)?,
        limit: Int,
        fields: Int,
        operation: String,
        expires: KeyPath<Entry, UnixMilliseconds>,
        decode: ([RESPValue]) -> Entry?
    ) async throws(RegistryError) -> Page<Entry> {
        let limit = max(limit, 0)
        let budget = max(self.configuration.listPageSize, 1)
        var start = RedisKeySchema.orderedStart(after: after)
        var entries: [Entry] = []
        var unreadable = 0
        // Every script but the last reads a whole budget; the bound only stops a runaway loop.
        let maximumScripts = (max(self.limits.maxAgents, self.limits.maxRelays) / budget + 1) * 2 + 16
        for _ in 0..<maximumScripts {
            let wanted = limit - entries.count
            let reply = try await self.evaluateRaw(
                script,
                key: index,
                leading + [RESPArgument(start), RESPArgument(wanted), RESPArgument(wanted + 1 + budget)],
                operation: operation
            )
            guard reply.count >= 3, (reply.count - 3) % fields == 0, let now = reply[0].int64,
                let more = reply[1].int64, let last = reply[2].string
            else {
                throw ScriptReply(values: reply, script: operation).unexpected()
            }
            var offset = 3
            while offset < reply.count {
                if let entry = decode(Array(reply[offset..<(offset + fields)])) {
                    entries.append(entry)
                } else {
                    unreadable += 1
                }
                offset += fields
            }
            if more == 0 || entries.count >= limit || last.isEmpty {
                if unreadable > 0 {
                    self.logger.warning("skipped unreadable records in redis", metadata: ["operation": "\(operation)", "count": "\(unreadable)"])
                }
                let asOf = UnixMilliseconds(now)
                return Page(entries: entries.filter { $0[keyPath: expires] > asOf }, hasMore: more != 0, asOf: asOf)
            }
            start = "(" + last
        }
        throw RegistryError.internalError("\(operation): the index in \(self.peer) did not end after \(maximumScripts) scripts")
    }

    /// A placement from a script's fields: encoded relay, last heartbeat, deadline, incarnation.
    private static func fleetPlacement(_ id: AgentID, _ fields: [RESPValue]) -> FleetPlacement? {
        guard fields.count == 4,
            let relayID = fields[0].string.flatMap(RedisKeySchema.relayID),
            let heartbeat = fields[1].int64,
            let deadline = fields[2].int64,
            let incarnation = fields[3].int64, incarnation > 0
        else {
            return nil
        }
        return FleetPlacement(
            agentID: id,
            relayID: relayID,
            lastHeartbeat: UnixMilliseconds(heartbeat),
            expires: UnixMilliseconds(deadline),
            relayIncarnation: RelayIncarnation(UInt64(incarnation))
        )
    }

    /// Why the sync script lost an agent.
    private func loss(_ reason: String, relay: String?, agent: AgentID, reply: ScriptReply) throws(RegistryError) -> AgentLoss {
        switch reason {
        case "capacity":
            return .capacity
        case "draining":
            return .relayDraining
        case "not-live":
            return .notLive
        case "elsewhere":
            guard let current = relay.flatMap(RedisKeySchema.relayID) else {
                // Its relay cannot be named; to the caller it is simply not kept here.
                self.logger.warning("agent record in redis is corrupt", metadata: ["agent_id": "\(agent)"])
                return .notLive
            }
            return .placedElsewhere(current: current)
        default:
            throw reply.unexpected()
        }
    }
}
