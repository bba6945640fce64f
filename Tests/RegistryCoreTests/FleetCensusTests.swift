import Logging
import RegistryBackendMemory
import RegistryCore
import RegistryTestKit
import Testing

@Suite("Fleet census")
struct FleetCensusTests {
    @Test("counts live relays and their live agents, across pages, without listing agents")
    func counts() async throws {
        let clock = ManualClock()
        let ttl = try TTLPolicy(relayTTL: .seconds(10), agentTTL: .seconds(5))
        let registry = Registry(backend: MemoryBackend(ttl: ttl, clock: clock), logger: Logger(label: "test"))
        let census = FleetCensus(registry: registry, logger: Logger(label: "test"))
        #expect(census.latest == nil)
        let endpoint = try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)
        for relay in ["relay-1", "relay-2"] {
            _ = try await registry.registerRelay(RelayRegistration(id: try RelayID(validating: relay), endpoint: endpoint))
        }
        for (agent, relay) in [("drone-1", "relay-1"), ("drone-2", "relay-1"), ("drone-3", "relay-2")] {
            _ = try await registry.registerAgent(try AgentID(validating: agent), on: try RelayID(validating: relay))
        }
        try await census.take()
        #expect(census.latest?.relays == 2)
        #expect(census.latest?.agents == 3)
        // Agents expire before their relays: the census follows liveness, not storage.
        clock.advance(by: .seconds(6))
        try await census.take()
        #expect(census.latest?.relays == 2)
        #expect(census.latest?.agents == 0)
        #expect(census.latest?.asOf == clock.now())
    }
}
