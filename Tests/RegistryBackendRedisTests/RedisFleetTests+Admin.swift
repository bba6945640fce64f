import RESP
import RegistryBackendRedis
import RegistryCore
import RegistryTestKit
import Testing

extension RedisFleetTests {
    @Test("draining, and deregistering an agent or a relay of 10,000 agents, are one script each")
    func adminOneScriptPerCall() async throws {
        // A server of its own, so that no other test's scripts are counted.
        let server = try await RedisServer.start()
        let harness = RedisHarness(server: server, time: .pinned(ManualClock()))
        let limits = CapacityLimits(maxRelays: 10, maxAgents: 20_000)
        try await withRedisBackend(harness, limits: limits) { backend, redis in
            let agents = (0..<RelaySync.maximumAgents).map { "drone-\($0)" }
            _ = try await backend.syncRelay(try self.sync("relay-1", place: agents))
            // Loads the scripts, so that the counts below hold no NOSCRIPT reloads.
            await #expect(throws: RegistryError.self) { try await backend.setDraining(try self.relay("ghost"), true) }
            await #expect(throws: RegistryError.self) { try await backend.deregisterAgent(try self.agent("ghost"), from: nil) }
            await #expect(throws: RegistryError.self) { try await backend.deregisterRelay(try self.relay("ghost")) }

            var before = try await self.scriptCalls(redis)
            try await backend.setDraining(try self.relay("relay-1"), true)
            #expect(try await self.scriptCalls(redis) - before == 1)

            // Draining: the relay's own agents are renewed, a new one is lost, in one script.
            before = try await self.scriptCalls(redis)
            let drained = try await backend.syncRelay(try self.sync("relay-1", endpoint: false, place: Array(agents.prefix(9_999)) + ["newcomer"]))
            #expect(try await self.scriptCalls(redis) - before == 1)
            #expect(drained.lost == [LostAgent(agentID: try self.agent("newcomer"), reason: .relayDraining)])

            before = try await self.scriptCalls(redis)
            try await backend.deregisterAgent(try self.agent("drone-0"), from: try self.relay("relay-1"))
            #expect(try await self.scriptCalls(redis) - before == 1)

            before = try await self.scriptCalls(redis)
            #expect(try await backend.deregisterRelay(try self.relay("relay-1")) == agents.count - 1)
            #expect(try await self.scriptCalls(redis) - before == 1)

            #expect(try await redis.send(RawCommand("ZCARD", RESPArgument(backend.schema.agentsIndex))).int64 == 0)
            #expect(try await redis.send(RawCommand("ZCARD", RESPArgument(backend.schema.agentsByIDIndex))).int64 == 0)
            #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.isEmpty)
        }
        await server.stop()
    }
}
