import RESP
import RegistryBackendRedis
import RegistryCore
import RegistryTestKit
import Testing

/// Behaviour specific to the Redis backend, beyond the shared contract.
@Suite("Redis backend", .timeLimit(.minutes(2)))
struct RedisBackendTests {
    static let suite = "redis-backend"

    func relay(_ raw: String) throws -> RelayID { try RelayID(validating: raw) }
    func agent(_ raw: String) throws -> AgentID { try AgentID(validating: raw) }
    func registration(_ raw: String, port: Int = 7000) throws -> RelayRegistration {
        RelayRegistration(id: try self.relay(raw), endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: port))
    }


    /// Native expiry is Redis's own clock at work, so this waits for real: 1s TTLs (the
    /// minimum) plus a 1s margin, so that a loaded machine cannot lose the relay's key
    /// between the two registrations. The scripts' time is pinned so that a slow machine
    /// cannot let the relay expire between the two registrations; key expiry is real time
    /// either way.
    @Test("Redis deletes an expired relay's and agent's keys by itself, with no registry running")
    func nativeExpiry() async throws {
        let server = try await RedisServerFixture.shared(suite: Self.suite)
        let harness = RedisHarness(server: server, time: .pinned(ManualClock()), garbageCollectionMargin: .seconds(1))
        let ttl = try TTLPolicy(relayTTL: .seconds(1), agentTTL: .seconds(1))
        try await withRedisBackend(harness, ttl: ttl) { backend, redis in
            _ = try await backend.registerRelay(try self.registration("relay-1"))
            _ = try await backend.registerAgent(try self.agent("drone-7"), on: try self.relay("relay-1"))
            let schema = backend.schema
            let keys = [
                schema.relayKey(try self.relay("relay-1")), schema.agentKey(try self.agent("drone-7")),
                schema.relayAgentsKey(try self.relay("relay-1")), schema.relaysIndex, schema.agentsIndex,
                schema.relaysByIDIndex, schema.agentsByIDIndex, schema.relayAgentsByIDKey(try self.relay("relay-1")),
            ]
            for key in keys {
                let ttl = try await redis.send(RawCommand("PTTL", RESPArgument(key))).int64 ?? -2
                // Set to TTL + margin (2s); already gone (-2) only on a very slow machine, never -1.
                #expect(ttl == -2 || (1...2_000).contains(ttl), "\(key) has PTTL \(ttl)")
            }
            await backend.close()  // no registry is left to clean up

            let deadline = ContinuousClock.now + .seconds(8)
            var remaining = keys.count
            while remaining > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                remaining = Int(try await redis.send(RawCommand(["EXISTS"] + keys.map { RESPArgument($0) })).int64 ?? -1)
            }
            #expect(remaining == 0, "keys left after expiry")
        }
    }

    @Test("every key the backend writes is under its prefix and namespace")
    func keysStayInTheNamespace() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        try await withRedisBackend(harness, ttl: .default) { backend, redis in
            _ = try await backend.registerRelay(try self.registration("relay:{1}"))
            _ = try await backend.registerAgent(try self.agent("drone 7"), on: try self.relay("relay:{1}"))
            let keys = try await redis.send(RawCommand("KEYS", RESPArgument(backend.schema.prefix + "*"))).array?.compactMap(\.string) ?? []
            #expect(Set(keys) == [
                backend.schema.relayKey(try self.relay("relay:{1}")), backend.schema.agentKey(try self.agent("drone 7")),
                backend.schema.relayAgentsKey(try self.relay("relay:{1}")), backend.schema.relaysIndex,
                backend.schema.agentsIndex, backend.schema.incarnations, backend.schema.relaysByIDIndex,
                backend.schema.agentsByIDIndex, backend.schema.relayAgentsByIDKey(try self.relay("relay:{1}")),
            ])
            #expect(keys.allSatisfy { $0.hasPrefix(backend.schema.prefix + "{aero-arc-registry}:v1:") })
        }
    }

    @Test("lists read large indexes page by page, each entry once, sorted, while entries are renewed")
    func pagedLists() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        try await withRedisBackend(harness, ttl: .default, listPageSize: 7) { backend, _ in
            let relays = (0..<23).map { "relay-\($0)" }
            for relay in relays {
                _ = try await backend.registerRelay(try self.registration(relay))
            }
            let agents = (0..<150).map { "agent-\($0)" }
            for (index, agent) in agents.enumerated() {
                _ = try await backend.registerAgent(try self.agent(agent), on: try self.relay(relays[index % relays.count]))
                harness.manualClock?.advance(by: .milliseconds(index % 3))  // a spread of deadlines, with ties
            }
            // Renew entries while lists page through them: renewed entries move in the index.
            let renewals = Task {
                for round in 0..<5 {
                    for agent in agents where agent.hasSuffix("\(round)") {
                        _ = try await backend.heartbeatAgent(try self.agent(agent), expectedRelayID: nil)
                    }
                }
            }
            for _ in 0..<5 {
                let listedAgents = try await backend.listAgents().entries
                #expect(listedAgents.map(\.id.rawValue) == agents.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
                for entry in listedAgents {
                    let index = agents.firstIndex(of: entry.id.rawValue) ?? -1
                    #expect(entry.relayID.rawValue == relays[index % relays.count])
                }
                let listedRelays = try await backend.listRelays().entries
                #expect(listedRelays.map(\.id.rawValue) == relays.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            }
            try await renewals.value
        }
    }

    @Test("a corrupt record is left out of lists without failing its neighbours")
    func corruptRecords() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        try await withRedisBackend(harness, ttl: .default) { backend, redis in
            _ = try await backend.registerRelay(try self.registration("relay-a"))
            _ = try await backend.registerRelay(try self.registration("relay-b"))
            _ = try await backend.registerAgent(try self.agent("agent-1"), on: try self.relay("relay-a"))
            _ = try await backend.registerAgent(try self.agent("agent-2"), on: try self.relay("relay-b"))
            let schema = backend.schema
            // relay-b's port is garbage; agent-2 names a relay that is not base64url; an index
            // member that is not an encoded ID.
            _ = try await redis.send(RawCommand("HSET", RESPArgument(schema.relayKey(try self.relay("relay-b"))), "port", "not-a-port"))
            _ = try await redis.send(RawCommand("HSET", RESPArgument(schema.agentKey(try self.agent("agent-2"))), "relay", "!!"))
            _ = try await redis.send(RawCommand("ZADD", RESPArgument(schema.relaysIndex), "99999999999999", "!!"))
            #expect(try await backend.listRelays().entries.map(\.id.rawValue) == ["relay-a"])
            #expect(try await backend.listAgents().entries.map(\.id.rawValue) == ["agent-1"])
            // The corrupt relay is told to register again, which repairs it.
            do {
                _ = try await backend.heartbeatRelay(try self.relay("relay-b"))
                Issue.record("expected not found")
            } catch let error as RegistryError {
                #expect(error.code == .notFound)
            }
            _ = try await backend.registerRelay(try self.registration("relay-b", port: 7001))
            #expect(try await backend.listRelays().entries.map(\.id.rawValue) == ["relay-a", "relay-b"])
        }
    }

    @Test("at the agent limit, agents of an expired relay are pruned to make room")
    func capacityPrunesDeadRelays() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        let ttl = try TTLPolicy(relayTTL: .seconds(2), agentTTL: .seconds(60))
        try await withRedisBackend(harness, ttl: ttl, limits: CapacityLimits(maxRelays: 10, maxAgents: 2)) { backend, redis in
            _ = try await backend.registerRelay(try self.registration("relay-a"))
            _ = try await backend.registerAgent(try self.agent("agent-1"), on: try self.relay("relay-a"))
            _ = try await backend.registerAgent(try self.agent("agent-2"), on: try self.relay("relay-a"))
            try await harness.advance(by: .seconds(3))
            // relay-a expired; its agents' own TTLs have not, but they are dead with it.
            _ = try await backend.registerRelay(try self.registration("relay-b"))
            _ = try await backend.registerAgent(try self.agent("agent-3"), on: try self.relay("relay-b"))
            _ = try await backend.registerAgent(try self.agent("agent-4"), on: try self.relay("relay-b"))
            #expect(try await backend.agentIDs() == ["agent-3", "agent-4"])
            let indexed = try await redis.send(RawCommand("ZCARD", RESPArgument(backend.schema.agentsIndex))).int64
            #expect(indexed == 2)
        }
    }

    @Test("index pruning removes expired entries and their keys, never live ones")
    func pruning() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        try await withRedisBackend(harness, ttl: try TTLPolicy(relayTTL: .seconds(2), agentTTL: .seconds(2))) { backend, redis in
            for index in 0..<5 {
                _ = try await backend.registerRelay(try self.registration("relay-\(index)"))
                _ = try await backend.registerAgent(try self.agent("agent-\(index)"), on: try self.relay("relay-\(index)"))
            }
            try await harness.advance(by: .seconds(1))
            _ = try await backend.heartbeatRelay(try self.relay("relay-0"))
            _ = try await backend.heartbeatAgent(try self.agent("agent-0"), expectedRelayID: nil)
            try await harness.advance(by: .seconds(1))
            let report = try await backend.removeExpired(limit: 1_000)
            #expect(report == ExpiryReport(relaysRemoved: 4, agentsRemoved: 4))
            let relays = try await redis.send(RawCommand("ZRANGE", RESPArgument(backend.schema.relaysIndex), "0", "-1")).array
            #expect(relays == [.bulkString(RedisKeySchema.encode(try self.relay("relay-0")))])
            let gone = try await redis.send(RawCommand("EXISTS", RESPArgument(backend.schema.relayKey(try self.relay("relay-1"))))).int64
            #expect(gone == 0)
            #expect(try await backend.agentIDs() == ["agent-0"])
            #expect(try await backend.removeExpired(limit: 1_000).total == 0)
        }
    }

    @Test("two backends on one Redis and prefix share one state and one clock")
    func twoReplicas() async throws {
        let harness = try await RedisHarness.realTime(suite: Self.suite)
        let prefix = RedisHarness.uniquePrefix()
        // Long enough that a stalled machine cannot expire the relay between the first steps.
        let ttl = try TTLPolicy(relayTTL: .seconds(3), agentTTL: .seconds(3))
        let first = try harness.makeBackend(ttl: ttl, keyPrefix: prefix)
        let second = try harness.makeBackend(ttl: ttl, keyPrefix: prefix)
        let other = try harness.makeBackend(ttl: ttl, keyPrefix: RedisHarness.uniquePrefix())
        defer {
            Task {
                await first.close()
                await second.close()
                await other.close()
            }
        }
        let registered = try await first.registerRelay(try self.registration("relay-1")).relay
        _ = try await second.registerAgent(try self.agent("drone-7"), on: try self.relay("relay-1"))
        #expect(try await second.listRelays().entries == [registered])
        #expect(try await first.placement(of: try self.agent("drone-7")).relayID == (try self.relay("relay-1")))
        #expect(try await other.listRelays().entries.isEmpty)
        // Expiry is decided by Redis's clock: when one replica sees the relay gone, so does the other.
        let deadline = ContinuousClock.now + .seconds(8)
        while try await !first.listRelays().entries.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await first.listRelays().entries.isEmpty)
        #expect(try await second.listRelays().entries.isEmpty)
        #expect(try await second.agentIDs().isEmpty)
    }
}

extension RegistryBackend {
    func agentIDs() async throws -> [String] {
        try await self.listAgents().entries.map(\.id.rawValue)
    }
}
