import RESP
@testable import RegistryBackendRedis
import RegistryCore
import RegistryTestKit
import Testing

/// The admin operations on Redis, beyond the shared contract: what they leave in Redis,
/// capacity, replicas sharing one Redis, and outage grace after them.
extension RedisBackendTests {
    func exists(_ key: String, _ redis: RESPConnection) async throws -> Bool {
        try await redis.send(RawCommand("EXISTS", RESPArgument(key))).int64 == 1
    }

    func cardinality(_ key: String, _ redis: RESPConnection) async throws -> Int64 {
        try await redis.send(RawCommand("ZCARD", RESPArgument(key))).int64 ?? -1
    }

    func keys(_ backend: RedisBackend, _ redis: RESPConnection) async throws -> Set<String> {
        Set(try await redis.send(RawCommand("KEYS", RESPArgument(backend.schema.prefix + "*"))).array?.compactMap(\.string) ?? [])
    }

    @Test("deregistering leaves no key or index entry of what it removed")
    func deregistrationCleansUp() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        try await withRedisBackend(harness, ttl: .default) { backend, redis in
            let schema = backend.schema
            let relayA = try self.relay("relay:{a}")
            let relayB = try self.relay("relay-b")
            _ = try await backend.registerRelay(try self.registration("relay:{a}"))
            _ = try await backend.registerRelay(try self.registration("relay-b"))
            for agent in ["drone 1", "drone-2"] {
                _ = try await backend.registerAgent(try self.agent(agent), on: relayA)
            }
            _ = try await backend.registerAgent(try self.agent("drone-3"), on: relayB)
            try await backend.setDraining(relayA, true)

            #expect(try await backend.deregisterRelay(relayA) == 2)
            for key in [
                schema.relayKey(relayA), schema.agentKey(try self.agent("drone 1")), schema.agentKey(try self.agent("drone-2")),
                schema.relayAgentsKey(relayA), schema.relayAgentsByIDKey(relayA),
            ] {
                #expect(try await !self.exists(key, redis), "\(key) is left")
            }
            #expect(try await self.cardinality(schema.relaysIndex, redis) == 1)
            #expect(try await self.cardinality(schema.relaysByIDIndex, redis) == 1)
            #expect(try await self.cardinality(schema.agentsIndex, redis) == 1)
            #expect(try await self.cardinality(schema.agentsByIDIndex, redis) == 1)

            try await backend.deregisterAgent(try self.agent("drone-3"), from: relayB)
            // Empty sorted sets leave Redis with their last member.
            #expect(try await self.keys(backend, redis) == [schema.relayKey(relayB), schema.relaysIndex, schema.relaysByIDIndex, schema.incarnations])
            // Nothing is left for index pruning to find.
            #expect(try await backend.removeExpired(limit: 1_000).total == 0)

            // A new incarnation, not draining, with nothing of the old one.
            let again = try await backend.syncRelay(RelaySync(relayID: relayA, endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000), place: [], renew: [try self.agent("drone 1")]))
            #expect(again.relayStarted)
            #expect(again.lost == [LostAgent(agentID: try self.agent("drone 1"), reason: .notLive)])
            let fields = try await redis.send(RawCommand("HKEYS", RESPArgument(schema.relayKey(relayA)))).array?.compactMap(\.string) ?? []
            #expect(Set(fields) == ["addr", "port", "hb", "dl", "inc"])
        }
    }

    @Test("at the capacity limits, deregistering frees room at once")
    func deregistrationFreesCapacity() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        try await withRedisBackend(harness, ttl: .default, limits: CapacityLimits(maxRelays: 2, maxAgents: 2)) { backend, _ in
            _ = try await backend.registerRelay(try self.registration("relay-a"))
            _ = try await backend.registerRelay(try self.registration("relay-b"))
            _ = try await backend.registerAgent(try self.agent("agent-1"), on: try self.relay("relay-a"))
            _ = try await backend.registerAgent(try self.agent("agent-2"), on: try self.relay("relay-a"))
            await #expect(throws: RegistryError.self) { try await backend.registerAgent(try self.agent("agent-3"), on: try self.relay("relay-b")) }
            await #expect(throws: RegistryError.self) { try await backend.registerRelay(try self.registration("relay-c")) }

            try await backend.deregisterAgent(try self.agent("agent-1"), from: nil)
            _ = try await backend.registerAgent(try self.agent("agent-3"), on: try self.relay("relay-b"))

            #expect(try await backend.deregisterRelay(try self.relay("relay-a")) == 1)
            _ = try await backend.registerRelay(try self.registration("relay-c"))
            let sync = RelaySync(relayID: try self.relay("relay-c"), endpoint: nil, place: [try self.agent("agent-4")], renew: [])
            #expect(try await backend.syncRelay(sync).lost.isEmpty)
            let statuses = try await backend.listRelayStatuses(after: nil, limit: 10).entries
            #expect(statuses.map(\.relay.id.rawValue) == ["relay-b", "relay-c"])
            #expect(statuses.map(\.agentCount) == [1, 1])
        }
    }

    @Test("a second replica on the same Redis sees a drain, an undrain and a deregistration at once")
    func replicasShareAdminState() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        let prefix = RedisHarness.uniquePrefix()
        let first = try harness.makeBackend(ttl: .default, keyPrefix: prefix)
        let second = try harness.makeBackend(ttl: .default, keyPrefix: prefix)
        defer {
            Task {
                await first.close()
                await second.close()
            }
        }
        let relayID = try self.relay("relay-1")
        _ = try await first.registerRelay(try self.registration("relay-1"))
        _ = try await first.registerAgent(try self.agent("drone-1"), on: relayID)
        try await first.setDraining(relayID, true)

        #expect(try await second.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [true])
        do {
            _ = try await second.registerAgent(try self.agent("drone-2"), on: relayID)
            Issue.record("expected failed precondition")
        } catch let error as RegistryError {
            #expect(error.code == .failedPrecondition)
        }
        // The agent already on it is renewed.
        #expect(try await second.registerAgent(try self.agent("drone-1"), on: relayID).placement.relayID == relayID)

        try await second.setDraining(relayID, false)
        #expect(try await first.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [false])
        _ = try await first.registerAgent(try self.agent("drone-2"), on: relayID)

        #expect(try await second.deregisterRelay(relayID) == 2)
        #expect(try await first.listRelays().entries.isEmpty)
        #expect(try await first.agentIDs().isEmpty)
        do {
            _ = try await first.placement(of: try self.agent("drone-1"))
            Issue.record("expected not found")
        } catch let error as RegistryError {
            #expect(error.code == .notFound)
        }
    }

    @Test("outage grace after a deregistration extends what is left and brings nothing back")
    func graceDoesNotResurrect() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        let ttl = try TTLPolicy(relayTTL: .seconds(10), agentTTL: .seconds(10))
        try await withRedisBackend(harness, ttl: ttl) { backend, redis in
            let schema = backend.schema
            for relay in ["relay-a", "relay-b"] {
                _ = try await backend.registerRelay(try self.registration(relay))
            }
            _ = try await backend.registerAgent(try self.agent("agent-1"), on: try self.relay("relay-a"))
            _ = try await backend.registerAgent(try self.agent("agent-2"), on: try self.relay("relay-b"))
            _ = try await backend.registerAgent(try self.agent("agent-3"), on: try self.relay("relay-b"))
            try await harness.advance(by: .seconds(1))
            _ = try await backend.deregisterRelay(try self.relay("relay-a"))
            try await backend.deregisterAgent(try self.agent("agent-2"), from: nil)
            let before = try await self.keys(backend, redis)

            // An outage that began 900 ms ago: everything registered before it is extended.
            let reply = try await backend.evaluateUngated(
                RedisScripts.applyOutageGrace,
                key: schema.relaysIndex,
                [
                    RESPArgument(900), RESPArgument(5_000), RESPArgument(ttl.relayTTLMilliseconds),
                    RESPArgument(ttl.agentTTLMilliseconds), RESPArgument(backend.marginMilliseconds),
                ],
                operation: "apply outage grace"
            )
            #expect(reply.count == 5)
            #expect(reply.dropFirst(3).map(\.int64) == [1, 1], "one relay and one agent extended")
            #expect(try await self.keys(backend, redis) == before.union([schema.root + RedisKeySchema.graceUntilName]))
            #expect(try await backend.listRelays().entries.map(\.id.rawValue) == ["relay-b"])
            #expect(try await backend.agentIDs() == ["agent-3"])
            #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.agentCount) == [1])
        }
    }
}
