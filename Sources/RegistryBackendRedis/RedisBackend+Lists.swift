import Logging
import RESP
public import RegistryCore

extension RedisBackend {
    public func listRelays() async throws -> Snapshot<Relay> {
        var relays: [RelayID: (relay: Relay, deadline: Int64)] = [:]
        let asOf = try await self.readPages(RedisScripts.listRelays, index: self.schema.relaysIndex, operation: "list relays", fields: 5) { fields in
            guard let id = fields[0].string.flatMap(RedisKeySchema.relayID),
                let address = fields[1].string,
                let port = fields[2].int64,
                let heartbeat = fields[3].int64,
                let deadline = fields[4].int64,
                let endpoint = try? RelayEndpoint(address: address, grpcPort: Int(port))
            else {
                return false
            }
            // A later page has the later state of an entry renewed while the list was read.
            relays[id] = (Relay(id: id, endpoint: endpoint, lastHeartbeat: UnixMilliseconds(heartbeat)), deadline)
            return true
        }
        var live = relays.values.filter { $0.deadline > asOf.rawValue }.map(\.relay)
        live.sortByIdentifier(\.id)
        return Snapshot(entries: live, asOf: asOf)
    }

    public func listAgents() async throws -> Snapshot<Agent> {
        var agents: [AgentID: (agent: Agent, deadline: Int64)] = [:]
        let asOf = try await self.readPages(RedisScripts.listAgents, index: self.schema.agentsIndex, operation: "list agents", fields: 4) { fields in
            guard let id = fields[0].string.flatMap(RedisKeySchema.agentID),
                let relayID = fields[1].string.flatMap(RedisKeySchema.relayID),
                let heartbeat = fields[2].int64,
                let deadline = fields[3].int64
            else {
                return false
            }
            agents[id] = (Agent(id: id, relayID: relayID, lastHeartbeat: UnixMilliseconds(heartbeat)), deadline)
            return true
        }
        var live = agents.values.filter { $0.deadline > asOf.rawValue }.map(\.agent)
        live.sortByIdentifier(\.id)
        return Snapshot(entries: live, asOf: asOf)
    }

    /// Reads an index page by page, handing each live entry's fields to `accept` (which
    /// returns false for an unreadable entry: it is skipped and logged, never fatal).
    ///
    /// Each page is one script, evaluated at its own time; the snapshot's time is the
    /// last page's, and callers keep only entries whose deadline (the earlier of an
    /// agent's and its relay's) is after it, so every entry returned was live then.
    /// - Returns: the snapshot's time.
    private func readPages(
        _ script: RESPScript,
        index: String,
        operation: String,
        fields: Int,
        accept: ([RESPValue]) -> Bool
    ) async throws(RegistryError) -> UnixMilliseconds {
        let pageSize = max(self.configuration.listPageSize, 1)
        var cursor: (score: String, member: String) = ("", "")
        var asOf = UnixMilliseconds(0)
        var unreadable = 0
        // Every page moves the cursor forward; the bound only stops a runaway loop.
        let maximumPages = (max(self.limits.maxAgents, self.limits.maxRelays) / pageSize + 1) * 4 + 16
        for _ in 0..<maximumPages {
            let reply = try await self.evaluateRaw(
                script,
                key: index,
                [RESPArgument(cursor.score), RESPArgument(cursor.member), RESPArgument(pageSize)],
                operation: operation
            )
            guard reply.count >= 3, (reply.count - 3) % fields == 0, let now = reply[0].int64,
                let nextScore = reply[1].string, let nextMember = reply[2].string
            else {
                throw ScriptReply(values: reply, script: operation).unexpected()
            }
            asOf = UnixMilliseconds(now)
            var index = 3
            while index < reply.count {
                if !accept(Array(reply[index..<(index + fields)])) {
                    unreadable += 1
                }
                index += fields
            }
            if nextMember.isEmpty {
                if unreadable > 0 {
                    self.logger.warning("skipped unreadable records in redis", metadata: ["operation": "\(operation)", "count": "\(unreadable)"])
                }
                return asOf
            }
            cursor = (nextScore, nextMember)
        }
        throw RegistryError.internalError("\(operation): the index in \(self.peer) did not end after \(maximumPages) pages")
    }
}
