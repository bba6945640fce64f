@testable import RegistryBackendMemory
import RegistryCore
import Testing

@Suite("Memory state")
struct MemoryRegistryStateTests {
    let ttl = try! TTLPolicy(relayTTL: .seconds(10), agentTTL: .seconds(10))

    func relay(_ raw: String) throws -> RelayRegistration {
        RelayRegistration(id: try RelayID(validating: raw), endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000))
    }

    @Test("expired relays are reclaimed with their agents and the indexes stay in step")
    func reclaimsRelaysWithAgents() throws {
        var state = MemoryRegistryState(ttl: ttl, limits: CapacityLimits())
        _ = try state.registerRelay(self.relay("r1"), now: 0)
        _ = try state.registerRelay(self.relay("r2"), now: 5_000)
        for index in 0..<10 {
            _ = try state.registerAgent(try AgentID(validating: "a\(index)"), on: try RelayID(validating: index < 6 ? "r1" : "r2"), now: 5_000)
        }
        let report = state.removeExpired(now: 10_100, limit: 100)
        #expect(report == ExpiryReport(relaysRemoved: 1, agentsRemoved: 6))
        #expect(state.relays.count == 1)
        #expect(state.agents.count == 4)
        #expect(state.indexedCounts == (1, 4))
    }

    @Test("re-registering an expired relay drops its old agents from memory at once")
    func recreateDropsAgents() throws {
        var state = MemoryRegistryState(ttl: ttl, limits: CapacityLimits())
        _ = try state.registerRelay(self.relay("r1"), now: 0)
        _ = try state.registerAgent(try AgentID(validating: "a"), on: try RelayID(validating: "r1"), now: 0)
        let result = try state.registerRelay(self.relay("r1"), now: 20_000)
        #expect(result.outcome == .recreated)
        #expect(state.agents.isEmpty)
        #expect(state.indexedCounts == (1, 0))
    }

    @Test("a move takes the agent out of its previous relay's index")
    func moveUpdatesRelayIndex() throws {
        var state = MemoryRegistryState(ttl: ttl, limits: CapacityLimits())
        _ = try state.registerRelay(self.relay("r1"), now: 0)
        _ = try state.registerRelay(self.relay("r2"), now: 0)
        let agent = try AgentID(validating: "a")
        _ = try state.registerAgent(agent, on: try RelayID(validating: "r1"), now: 0)
        _ = try state.registerAgent(agent, on: try RelayID(validating: "r2"), now: 1)
        #expect(state.relays[try RelayID(validating: "r1")]?.agents.elements.isEmpty == true)
        #expect(state.relays[try RelayID(validating: "r2")]?.agents.elements == [agent])
        // r1 expiring must not take the moved agent with it.
        _ = try state.heartbeatRelay(try RelayID(validating: "r2"), now: 9_000)
        _ = try state.heartbeatAgent(agent, expectedRelayID: nil, now: 9_000)
        #expect(state.removeExpired(now: 10_100, limit: 100) == ExpiryReport(relaysRemoved: 1, agentsRemoved: 0))
        #expect(state.agents.count == 1)
    }

    @Test("removing 10,000 expired agents of 100,000 removes exactly those")
    func largeExpiry() throws {
        var state = MemoryRegistryState(ttl: ttl, limits: CapacityLimits())
        for relay in 0..<100 {
            _ = try state.registerRelay(self.relay("relay-\(relay)"), now: 0)
        }
        for agent in 0..<100_000 {
            let relayID = try RelayID(validating: "relay-\(agent % 100)")
            // One agent in ten registered early enough to have expired by 10_100.
            let now: Int64 = agent % 10 == 0 ? 0 : 5_000
            _ = try state.registerAgent(try AgentID(validating: "agent-\(agent)"), on: relayID, now: now)
        }
        for relay in 0..<100 {
            _ = try state.heartbeatRelay(try RelayID(validating: "relay-\(relay)"), now: 5_000)
        }
        let report = state.removeExpired(now: 10_100, limit: .max)
        #expect(report == ExpiryReport(relaysRemoved: 0, agentsRemoved: 10_000))
        #expect(state.agents.count == 90_000)
        #expect(state.indexedCounts == (100, 90_000))
    }
}

@Suite("Memory state batching")
struct MemoryRegistryStateBatchingTests {
    @Test("a removal batch stops near its limit even when relays carry many agents")
    func batchesByEntries() throws {
        let ttl = try TTLPolicy(relayTTL: .seconds(10), agentTTL: .seconds(100))
        var state = MemoryRegistryState(ttl: ttl, limits: CapacityLimits())
        for relay in 0..<10 {
            let id = try RelayID(validating: "relay-\(relay)")
            _ = try state.registerRelay(RelayRegistration(id: id, endpoint: try RelayEndpoint(address: "a", grpcPort: 1)), now: 0)
            for agent in 0..<300 {
                _ = try state.registerAgent(try AgentID(validating: "agent-\(relay)-\(agent)"), on: id, now: 0)
            }
        }
        var batches: [ExpiryReport] = []
        while true {
            let batch = state.removeExpired(now: 20_000, limit: 1_000)
            if batch.total == 0 { break }
            batches.append(batch)
        }
        // Each relay brings 301 entries, so a batch holds at most 4 relays (1,204 entries).
        #expect(batches.map(\.relaysRemoved) == [4, 4, 2])
        #expect(batches.allSatisfy { $0.total <= 1_000 + 301 })
        #expect(state.agents.isEmpty && state.relays.isEmpty)
    }
}
