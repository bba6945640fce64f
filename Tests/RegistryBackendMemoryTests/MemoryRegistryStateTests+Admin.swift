@testable import RegistryBackendMemory
import RegistryCore
import Testing

/// The admin operations keep the state's invariants: storage, expiry indexes, ID-ordered
/// indexes and the per-relay index all lose the same entries, and capacity is freed at once.
extension MemoryRegistryStateTests {
    @Test("deregistering a relay takes it and its agents out of every index and frees capacity at once")
    func deregisterRelayKeepsIndexes() throws {
        var state = MemoryRegistryState(ttl: ttl, limits: CapacityLimits(maxRelays: 2, maxAgents: 3))
        _ = try state.registerRelay(self.relay("r1"), now: 0)
        _ = try state.registerRelay(self.relay("r2"), now: 0)
        for (agent, relay) in [("a1", "r1"), ("a2", "r1"), ("a3", "r2")] {
            _ = try state.registerAgent(try AgentID(validating: agent), on: try RelayID(validating: relay), now: 0)
        }
        #expect(try state.deregisterRelay(try RelayID(validating: "r1"), now: 1_000) == 2)
        #expect(state.relays.keys.map(\.rawValue) == ["r2"])
        #expect(state.agents.keys.map(\.rawValue) == ["a3"])
        #expect(state.indexedCounts == (1, 1))
        #expect(state.orderedCounts == (1, 1))
        #expect(state.relayOrder.elements.map(\.rawValue) == ["r2"])
        #expect(state.agentOrder.elements.map(\.rawValue) == ["a3"])
        // Room for a relay and two agents again, without waiting for expiry.
        _ = try state.registerRelay(self.relay("r3"), now: 1_000)
        _ = try state.registerAgent(try AgentID(validating: "a4"), on: try RelayID(validating: "r3"), now: 1_000)
        _ = try state.registerAgent(try AgentID(validating: "a5"), on: try RelayID(validating: "r3"), now: 1_000)
        // Expiry later finds exactly what is left, nothing twice.
        #expect(state.removeExpired(now: 20_000, limit: 100) == ExpiryReport(relaysRemoved: 2, agentsRemoved: 3))
        #expect(state.indexedCounts == (0, 0))
        #expect(state.orderedCounts == (0, 0))
    }

    @Test("deregistering an agent takes it out of every index; its relay keeps the others")
    func deregisterAgentKeepsIndexes() throws {
        var state = MemoryRegistryState(ttl: ttl, limits: CapacityLimits(maxRelays: 1, maxAgents: 2))
        let relayID = try RelayID(validating: "r1")
        _ = try state.registerRelay(self.relay("r1"), now: 0)
        _ = try state.registerAgent(try AgentID(validating: "a1"), on: relayID, now: 0)
        _ = try state.registerAgent(try AgentID(validating: "a2"), on: relayID, now: 0)
        try state.deregisterAgent(try AgentID(validating: "a1"), from: relayID, now: 1_000)
        #expect(state.agents.keys.map(\.rawValue) == ["a2"])
        #expect(state.relays[relayID]?.agents.elements.map(\.rawValue) == ["a2"])
        #expect(state.indexedCounts == (1, 1))
        #expect(state.orderedCounts == (1, 1))
        _ = try state.registerAgent(try AgentID(validating: "a3"), on: relayID, now: 1_000)
        #expect(state.removeExpired(now: 20_000, limit: 100) == ExpiryReport(relaysRemoved: 1, agentsRemoved: 2))
        #expect(state.indexedCounts == (0, 0))
    }

    @Test("outage grace after a deregistration extends only what is left")
    func graceAfterDeregistration() throws {
        var state = MemoryRegistryState(ttl: ttl, limits: CapacityLimits())
        _ = try state.registerRelay(self.relay("r1"), now: 0)
        _ = try state.registerRelay(self.relay("r2"), now: 0)
        _ = try state.registerAgent(try AgentID(validating: "a1"), on: try RelayID(validating: "r1"), now: 0)
        _ = try state.registerAgent(try AgentID(validating: "a2"), on: try RelayID(validating: "r2"), now: 0)
        _ = try state.deregisterRelay(try RelayID(validating: "r1"), now: 1_000)
        try state.deregisterAgent(try AgentID(validating: "a2"), from: nil, now: 1_000)
        state.applyOutageGrace(startedAt: 500, grace: 5_000)
        #expect(state.relays.keys.map(\.rawValue) == ["r2"])
        #expect(state.agents.isEmpty)
        #expect(state.liveRelays(now: 12_000).map(\.id.rawValue) == ["r2"])
        #expect(state.indexedCounts == (1, 0))
    }

    @Test("draining is kept by renewals and dropped with the incarnation")
    func drainingBelongsToTheRecord() throws {
        var state = MemoryRegistryState(ttl: ttl, limits: CapacityLimits())
        let relayID = try RelayID(validating: "r1")
        _ = try state.registerRelay(self.relay("r1"), now: 0)
        try state.setDraining(relayID, true, now: 0)
        _ = try state.heartbeatRelay(relayID, now: 5_000)
        _ = try state.registerRelay(self.relay("r1"), now: 6_000)
        #expect(state.relays[relayID]?.draining == true)
        #expect(try state.registerRelay(self.relay("r1"), now: 30_000).outcome == .recreated)
        #expect(state.relays[relayID]?.draining == false)
    }
}
