import RESP
import RegistryBackendRedis
import RegistryCore
import RegistryTestKit
import Testing

/// The fleet extension on Redis, beyond the shared contract: round trips per call, ID
/// order of the `-by-id` indexes, paging over entries that are dead but not pruned, and
/// keeping those indexes in step with the rest.
@Suite("Redis fleet extension", .timeLimit(.minutes(3)))
struct RedisFleetTests {
    static let suite = "redis-fleet"

    static let awkwardIDs = [
        "a", "a/b", "a:b", "ab", "a b", "a\u{A0}x", "e\u{301}", "\u{e9}", "z", "ドローン", "🚁", "{tag}", "~", "\u{A1}",
        "A", "Z", "0", "-", "_", "é-2", String(repeating: "x", count: 253), String(repeating: "x", count: 252),
    ]

    func relay(_ raw: String) throws -> RelayID { try RelayID(validating: raw) }
    func agent(_ raw: String) throws -> AgentID { try AgentID(validating: raw) }
    func endpoint(port: Int = 7000) throws -> RelayEndpoint { try RelayEndpoint(address: "10.0.0.1", grpcPort: port) }

    func sync(_ relay: String, endpoint: Bool = true, place: [String] = [], renew: [String] = []) throws -> RelaySync {
        RelaySync(
            relayID: try self.relay(relay),
            endpoint: endpoint ? try self.endpoint() : nil,
            place: try place.map(self.agent),
            renew: try renew.map(self.agent)
        )
    }

    static func byteOrder(_ ids: [String]) -> [String] {
        ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }


    /// Every page of live placements (of one relay, or all), read `limit` at a time.
    func allPlacements(_ backend: RedisBackend, relay: RelayID? = nil, limit: Int) async throws -> [FleetPlacement] {
        var entries: [FleetPlacement] = []
        var after: AgentID?
        for _ in 0..<10_000 {
            let page = try await backend.listPlacements(relayID: relay, after: after, limit: limit)
            #expect(page.entries.count <= limit)
            entries += page.entries
            guard page.hasMore, let last = page.entries.last else { return entries }
            after = last.agentID
        }
        Issue.record("paging did not end")
        return entries
    }

    /// How many scripts the server ran (`EVALSHA` and `EVAL`) and scripts it loaded.
    func scriptCalls(_ redis: RESPConnection) async throws -> Int {
        let info = try await redis.send(RawCommand("INFO", "commandstats")).string ?? ""
        var calls = 0
        for line in info.split(whereSeparator: \.isNewline) {
            guard line.hasPrefix("cmdstat_evalsha:") || line.hasPrefix("cmdstat_eval:") || line.hasPrefix("cmdstat_script") else {
                continue
            }
            let field = line.split(separator: ":", maxSplits: 1).last?.split(separator: ",").first { $0.hasPrefix("calls=") }
            calls += Int(field?.dropFirst("calls=".count) ?? "") ?? 0
        }
        return calls
    }

    @Test("a sync of 10,000 agents, a lookup of 1,000 and each list page are one script each")
    func oneScriptPerCall() async throws {
        // A server of its own, so that no other test's scripts are counted.
        let server = try await RedisServer.start()
        let harness = RedisHarness(server: server, time: .pinned(ManualClock()))
        let limits = CapacityLimits(maxRelays: 10, maxAgents: 20_000)
        try await withRedisBackend(harness, limits: limits) { backend, redis in
            let agents = (0..<RelaySync.maximumAgents).map { "drone-\($0)" }
            // Loads the scripts, so that the counts below hold no NOSCRIPT reloads.
            _ = try await backend.syncRelay(try self.sync("relay-0"))
            _ = try await backend.placements(of: [])
            _ = try await backend.listPlacements(relayID: nil, after: nil, limit: 1)
            _ = try await backend.listRelayStatuses(after: nil, limit: 1)

            var before = try await self.scriptCalls(redis)
            let placed = try await backend.syncRelay(try self.sync("relay-1", place: agents))
            #expect(try await self.scriptCalls(redis) - before == 1)
            #expect(placed.lost.isEmpty)
            #expect(placed.relayStarted)

            before = try await self.scriptCalls(redis)
            let renewed = try await backend.syncRelay(try self.sync("relay-1", endpoint: false, renew: agents.reversed()))
            #expect(try await self.scriptCalls(redis) - before == 1)
            #expect(renewed.lost.isEmpty)
            #expect(renewed.incarnation == placed.incarnation)
            #expect(!renewed.relayStarted)

            before = try await self.scriptCalls(redis)
            let lookup = try await backend.placements(of: try agents.prefix(999).map(self.agent) + [try self.agent("nobody")])
            #expect(try await self.scriptCalls(redis) - before == 1)
            #expect(lookup.placements.count == 999)
            #expect(lookup.missing == [try self.agent("nobody")])

            before = try await self.scriptCalls(redis)
            let page = try await backend.listPlacements(relayID: try self.relay("relay-1"), after: nil, limit: 5_000)
            #expect(try await self.scriptCalls(redis) - before == 1)
            #expect(page.entries.map(\.agentID.rawValue) == Array(Self.byteOrder(agents).prefix(5_000)))
            #expect(page.hasMore)

            before = try await self.scriptCalls(redis)
            let statuses = try await backend.listRelayStatuses(after: nil, limit: 10)
            #expect(try await self.scriptCalls(redis) - before == 1)
            #expect(statuses.entries.map(\.agentCount) == [0, 10_000])
            #expect(!statuses.hasMore)
        }
        await server.stop()
    }

    @Test("pages follow the IDs' UTF-8 byte order, whatever base64url's order is, each entry once")
    func byteOrderPaging() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        try await withRedisBackend(harness) { backend, _ in
            let relays = Self.awkwardIDs
            for (index, relay) in relays.enumerated() {
                // Each relay gets the agents whose position matches it, by the ID with a suffix.
                let agents = Self.awkwardIDs.indices.filter { $0 % relays.count == index }.map { Self.awkwardIDs[$0] }
                _ = try await backend.syncRelay(try self.sync(relay, place: agents + agents.map { $0 + "/\(index)" }))
            }
            let allAgents = Self.awkwardIDs + Self.awkwardIDs.enumerated().map { "\($1)/\($0)" }
            for limit in [1, 2, 3, 7, 100] {
                let placements = try await self.allPlacements(backend, limit: limit)
                #expect(placements.map(\.agentID.rawValue) == Self.byteOrder(allAgents), "limit \(limit)")
                var statuses: [RelayStatus] = []
                var after: RelayID?
                while true {
                    let page = try await backend.listRelayStatuses(after: after, limit: limit)
                    statuses += page.entries
                    guard page.hasMore, let last = page.entries.last else { break }
                    after = last.relay.id
                }
                #expect(statuses.map(\.relay.id.rawValue) == Self.byteOrder(relays), "limit \(limit)")
                #expect(statuses.allSatisfy { $0.agentCount == 2 })
            }
            let one = try await self.allPlacements(backend, relay: try self.relay("a"), limit: 1)
            #expect(one.map(\.agentID.rawValue) == ["a", "a/0"])
            // Starting after a prefix of stored IDs, and after an ID that is not stored.
            for after in ["a", "a0", "a b", "\u{7E}", "zz"] {
                let page = try await backend.listPlacements(relayID: nil, after: try self.agent(after), limit: 2)
                let expected = Self.byteOrder(allAgents).filter { after.utf8.lexicographicallyPrecedes($0.utf8) }
                #expect(page.entries.map(\.agentID.rawValue) == Array(expected.prefix(2)), "after \(after)")
                #expect(page.hasMore == (expected.count > 2))
            }
        }
    }

    @Test("a page is full and correct when more dead, unpruned entries than one script reads lie in it")
    func deadEntriesBeyondTheBudget() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        let ttl = try TTLPolicy(relayTTL: .seconds(60), agentTTL: .seconds(2))
        try await withRedisBackend(harness, ttl: ttl, listPageSize: 3) { backend, redis in
            let stale = (0..<40).map { "agent-\($0 + 100)" }
            let live = ["agent-000", "agent-050", "agent-999"]
            _ = try await backend.syncRelay(try self.sync("relay-1", place: stale))
            try await harness.advance(by: .seconds(3))
            _ = try await backend.syncRelay(try self.sync("relay-1", place: live))
            let before = try await self.scriptCalls(redis)
            let first = try await backend.listPlacements(relayID: nil, after: nil, limit: 2)
            #expect(first.entries.map(\.agentID.rawValue) == ["agent-000", "agent-050"])
            #expect(first.hasMore)
            let second = try await backend.listPlacements(relayID: try self.relay("relay-1"), after: try self.agent("agent-050"), limit: 2)
            #expect(second.entries.map(\.agentID.rawValue) == ["agent-999"])
            #expect(!second.hasMore)
            // 40 dead entries, 3 read per script: the second page needed several scripts.
            #expect(try await self.scriptCalls(redis) - before > 3)
            let statuses = try await backend.listRelayStatuses(after: nil, limit: 10)
            #expect(statuses.entries.map(\.agentCount) == [3])
            // Pruning removes the dead ones from the ID-ordered indexes too.
            _ = try await backend.removeExpired(limit: 1_000)
            let indexed = try await redis.send(RawCommand("ZCARD", RESPArgument(backend.schema.agentsByIDIndex))).int64
            #expect(indexed == 3)
            let relayIndexed = try await redis.send(RawCommand("ZCARD", RESPArgument(backend.schema.relayAgentsByIDKey(try self.relay("relay-1"))))).int64
            #expect(relayIndexed == 3)
        }
    }

    @Test("sync: incarnations, moves, losses in request order, and nothing changed on failure")
    func syncSemantics() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        let ttl = try TTLPolicy(relayTTL: .seconds(10), agentTTL: .seconds(10))
        try await withRedisBackend(harness, ttl: ttl, limits: CapacityLimits(maxRelays: 2, maxAgents: 4)) { backend, redis in
            do {
                _ = try await backend.syncRelay(try self.sync("relay-a", endpoint: false, place: ["x"]))
                Issue.record("expected not found")
            } catch let error as RegistryError {
                #expect(error.code == .notFound)
            }
            #expect(try await backend.placements(of: [try self.agent("x")]).missing.count == 1)

            let a = try await backend.syncRelay(try self.sync("relay-a", place: ["a1", "a2"]))
            #expect(a.relayStarted && a.incarnation.rawValue > 0 && a.lost.isEmpty)
            #expect(a.relayExpires == a.now.advanced(by: .seconds(10)))
            let b = try await backend.syncRelay(try self.sync("relay-b", place: ["b1"], renew: ["a1"]))
            #expect(b.lost == [LostAgent(agentID: try self.agent("a1"), reason: .placedElsewhere(current: try self.relay("relay-a")))])
            do {
                _ = try await backend.syncRelay(try self.sync("relay-c", place: ["c1"]))
                Issue.record("expected resource exhausted")
            } catch let error as RegistryError {
                #expect(error.code == .resourceExhausted)
            }
            #expect(try await backend.placements(of: [try self.agent("c1")]).missing.count == 1)

            // Moves a2 to relay-b; c2 and c3 are new but only one fits (4 agents at most).
            let moved = try await backend.syncRelay(try self.sync("relay-b", endpoint: false, place: ["c2", "a2", "c3"], renew: ["b1", "ghost", "a1"]))
            #expect(moved.incarnation == b.incarnation && !moved.relayStarted)
            #expect(moved.lost == [
                LostAgent(agentID: try self.agent("c3"), reason: .capacity),
                LostAgent(agentID: try self.agent("ghost"), reason: .notLive),
                LostAgent(agentID: try self.agent("a1"), reason: .placedElsewhere(current: try self.relay("relay-a"))),
            ])
            let lookup = try await backend.placements(of: try ["a2", "c3", "a1", "c2"].map(self.agent))
            #expect(lookup.placements.map(\.agentID.rawValue) == ["a2", "a1", "c2"])
            #expect(lookup.placements.map(\.relayID.rawValue) == ["relay-b", "relay-a", "relay-b"])
            #expect(lookup.placements.map(\.relayIncarnation) == [b.incarnation, a.incarnation, b.incarnation])
            #expect(lookup.missing.map(\.rawValue) == ["c3"])
            let onA = try await backend.listPlacements(relayID: try self.relay("relay-a"), after: nil, limit: 10)
            #expect(onA.entries.map(\.agentID.rawValue) == ["a1"])
            // The move took a2 out of relay-a's index, not only out of its listing.
            let indexedOnA = try await redis.send(RawCommand("ZRANGE", RESPArgument(backend.schema.relayAgentsByIDKey(try self.relay("relay-a"))), "0", "-1"))
            #expect(indexedOnA.array?.compactMap(\.string) == [RedisKeySchema.orderedMember(try self.agent("a1"))])

            // relay-a expires: a new incarnation, its agents dead and gone from every index.
            try await harness.advance(by: .seconds(6))
            _ = try await backend.syncRelay(try self.sync("relay-b", endpoint: false, renew: ["a2", "b1", "c2"]))
            try await harness.advance(by: .seconds(6))
            let again = try await backend.syncRelay(try self.sync("relay-a", renew: ["a1"]))
            #expect(again.relayStarted && again.incarnation > a.incarnation)
            #expect(again.lost == [LostAgent(agentID: try self.agent("a1"), reason: .notLive)])
            let members = try await redis.send(RawCommand("ZRANGE", RESPArgument(backend.schema.agentsByIDIndex), "0", "-1")).array ?? []
            let expected = try ["a2", "b1", "c2"].map { RedisKeySchema.orderedMember(try self.agent($0)) }
            #expect(members.compactMap(\.string) == expected)
            let statuses = try await backend.listRelayStatuses(after: nil, limit: 10)
            #expect(statuses.entries.map(\.agentCount) == [0, 3])
            #expect(statuses.entries.map(\.incarnation) == [again.incarnation, b.incarnation])
        }
    }

    @Test("at the agent limit, a sync prunes a dead relay's agents to make room")
    func syncPrunesAtCapacity() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        let ttl = try TTLPolicy(relayTTL: .seconds(2), agentTTL: .seconds(60))
        try await withRedisBackend(harness, ttl: ttl, limits: CapacityLimits(maxRelays: 10, maxAgents: 3)) { backend, _ in
            _ = try await backend.syncRelay(try self.sync("relay-a", place: ["a1", "a2", "a3"]))
            try await harness.advance(by: .seconds(3))
            let result = try await backend.syncRelay(try self.sync("relay-b", place: ["b1", "b2", "b3", "b4"]))
            #expect(result.lost == [LostAgent(agentID: try self.agent("b4"), reason: .capacity)])
            let page = try await backend.listPlacements(relayID: nil, after: nil, limit: 10)
            #expect(page.entries.map(\.agentID.rawValue) == ["b1", "b2", "b3"])
        }
    }

    @Test("the scripts' ordered members (decoded from base64url in Lua) are exactly the backend's")
    func luaAndSwiftAgreeOnMembers() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        try await withRedisBackend(harness) { backend, redis in
            let ids = Self.awkwardIDs + [String(repeating: "\u{10FFFF}", count: 64), "x", "xy", "xyz"]
            for id in ids {
                _ = try await backend.registerRelay(RelayRegistration(id: try self.relay(id), endpoint: try self.endpoint()))
                _ = try await backend.registerAgent(try self.agent(id), on: try self.relay(id))
            }
            for index in [backend.schema.relaysByIDIndex, backend.schema.agentsByIDIndex] {
                let members = try await redis.send(RawCommand("ZRANGE", RESPArgument(index), "0", "-1")).array?.compactMap(\.string)
                #expect(members == Self.byteOrder(ids).map { RedisKeySchema.orderedMember(try! AgentID(validating: $0)) })
            }
            // A sync (members built by the backend) finds and replaces them, never duplicates them.
            _ = try await backend.syncRelay(try self.sync("a", place: ids))
            #expect(try await redis.send(RawCommand("ZCARD", RESPArgument(backend.schema.agentsByIDIndex))).int64 == Int64(ids.count))
            #expect(try await redis.send(RawCommand("ZCARD", RESPArgument(backend.schema.relayAgentsByIDKey(try self.relay("z"))))).int64 == 0)
            let statuses = try await backend.listRelayStatuses(after: nil, limit: 1_000).entries
            #expect(statuses.map(\.relay.id.rawValue) == Self.byteOrder(ids))
            #expect(statuses.map(\.agentCount).reduce(0, +) == ids.count)
        }
    }

    @Test("entries written before the ID-ordered indexes existed are indexed by their next renewal")
    func renewalsRepairTheIndexes() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        try await withRedisBackend(harness) { backend, redis in
            _ = try await backend.registerRelay(RelayRegistration(id: try self.relay("relay-1"), endpoint: try self.endpoint()))
            _ = try await backend.registerAgent(try self.agent("drone-1"), on: try self.relay("relay-1"))
            _ = try await backend.registerAgent(try self.agent("drone-2"), on: try self.relay("relay-1"))
            let schema = backend.schema
            _ = try await redis.send(
                RawCommand("DEL", RESPArgument(schema.relaysByIDIndex), RESPArgument(schema.agentsByIDIndex), RESPArgument(schema.relayAgentsByIDKey(try self.relay("relay-1"))))
            )
            #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.isEmpty)
            _ = try await backend.heartbeatRelay(try self.relay("relay-1"))
            _ = try await backend.heartbeatAgent(try self.agent("drone-1"), expectedRelayID: nil)
            _ = try await backend.syncRelay(try self.sync("relay-1", endpoint: false, renew: ["drone-2"]))
            #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.agentCount) == [2])
            let page = try await backend.listPlacements(relayID: try self.relay("relay-1"), after: nil, limit: 10)
            #expect(page.entries.map(\.agentID.rawValue) == ["drone-1", "drone-2"])
        }
    }
}
