import RegistryCore
import Testing

extension BackendContract {
    static let agentCases: [BackendContractCase] = [
        BackendContractCase("registering an agent places it on the relay") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                let result = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                #expect(result.previousRelayID == nil)
                #expect(result.placement.relayID == relayID("relay-a"))
                let placement = try await backend.placement(of: agentID("agent-1"))
                #expect(placement == result.placement)
                let agents = try await backend.listAgents().entries
                #expect(agents == [Agent(id: agentID("agent-1"), relayID: relayID("relay-a"), lastHeartbeat: placement.lastUpdated)])
            }
        },
        BackendContractCase("registering an agent on an unknown or expired relay is not found and stores nothing") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                await expectRegistryError(.notFound) { try await backend.registerAgent(agentID("agent-1"), on: relayID("ghost")) }
                _ = try await backend.registerRelay(registration("relay-a"))
                try await harness.advance(by: unit * 1.2)
                await expectRegistryError(.notFound) { try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a")) }
                _ = try await backend.registerRelay(registration("relay-a"))
                #expect(try await backend.agentIDs() == [])
                await expectRegistryError(.notFound) { try await backend.placement(of: agentID("agent-1")) }
            }
        },
        BackendContractCase("registering an agent on another relay moves it there") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerRelay(registration("relay-b"))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                let moved = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-b"))
                #expect(moved.previousRelayID == relayID("relay-a"))
                #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-b"))
                let agents = try await backend.listAgents().entries
                #expect(agents.map(\.relayID) == [relayID("relay-b")])
                // The old relay no longer owns it: a heartbeat naming it changes nothing.
                await expectRegistryError(.notFound) {
                    try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: relayID("relay-a"))
                }
                // Registering again on the same relay is a renewal, not a move.
                let renewed = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-b"))
                #expect(renewed.previousRelayID == nil)
            }
        },
        BackendContractCase("a moved agent does not die with its previous relay") { harness in
            try await harness.withBackend(ttl: longAgentTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerRelay(registration("relay-b"))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-b"))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-b"))
                try await harness.advance(by: unit * 0.6)
                // relay-a has expired; agent-1 lives on relay-b.
                #expect(try await backend.relayIDs() == ["relay-b"])
                #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-b"))
                _ = try await backend.removeExpired(limit: 1_000)
                #expect(try await backend.agentIDs() == ["agent-1"])
            }
        },
        BackendContractCase("heartbeating an agent renews it on its relay") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                let registered = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a")).placement
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                let renewed = try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: nil)
                #expect(renewed.relayID == relayID("relay-a"))
                #expect(renewed.lastUpdated > registered.lastUpdated)
                let named = try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: relayID("relay-a"))
                #expect(named.relayID == relayID("relay-a"))
                try await harness.advance(by: unit * 0.6)
                #expect(try await backend.placement(of: agentID("agent-1")) == named)
                #expect(try await backend.listAgents().entries.map(\.lastHeartbeat) == [named.lastUpdated])
            }
        },
        BackendContractCase("heartbeating an unknown agent is not found and creates nothing") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                await expectRegistryError(.notFound) { try await backend.heartbeatAgent(agentID("ghost"), expectedRelayID: nil) }
                await expectRegistryError(.notFound) {
                    try await backend.heartbeatAgent(agentID("ghost"), expectedRelayID: relayID("relay-a"))
                }
                #expect(try await backend.agentIDs() == [])
            }
        },
        BackendContractCase("heartbeating an expired agent is not found and does not revive it") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                await expectRegistryError(.notFound) { try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: nil) }
                #expect(try await backend.agentIDs() == [])
                await expectRegistryError(.notFound) { try await backend.placement(of: agentID("agent-1")) }
            }
        },
        BackendContractCase("a heartbeat naming another relay is not found and changes nothing") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerRelay(registration("relay-b"))
                let placed = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a")).placement
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                _ = try await backend.heartbeatRelay(relayID("relay-b"))
                let error = await expectRegistryError(.notFound) {
                    try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: relayID("relay-b"))
                }
                #expect(error?.message.contains("relay-b") == true)
                // Neither moved nor renewed.
                #expect(try await backend.placement(of: agentID("agent-1")) == placed)
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                #expect(try await backend.agentIDs() == [])
            }
        },
        BackendContractCase("an agent dies with its relay before its own TTL runs out") { harness in
            try await harness.withBackend(ttl: longAgentTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                try await harness.advance(by: unit * 1.2)
                // No cleanup has run; reads must still hide it.
                #expect(try await backend.agentIDs() == [])
                await expectRegistryError(.notFound) { try await backend.placement(of: agentID("agent-1")) }
                await expectRegistryError(.notFound) { try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: nil) }
            }
        },
        BackendContractCase("an agent expires one agent TTL after its last heartbeat", needs: .exact) { harness in
            try await harness.withBackend(ttl: try TTLPolicy(relayTTL: unit * 10, agentTTL: unit)) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                try await harness.advance(by: unit - .milliseconds(1))
                _ = try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: nil)
                try await harness.advance(by: unit - .milliseconds(1))
                #expect(try await backend.agentIDs() == ["agent-1"])
                try await harness.advance(by: .milliseconds(1))
                #expect(try await backend.agentIDs() == [])
                await expectRegistryError(.notFound) { try await backend.placement(of: agentID("agent-1")) }
            }
        },
        BackendContractCase("agents are listed live only, sorted by ID bytes, with their relays") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerRelay(registration("relay-b"))
                _ = try await backend.registerAgent(agentID("b"), on: relayID("relay-a"))
                _ = try await backend.registerAgent(agentID("a"), on: relayID("relay-b"))
                _ = try await backend.registerAgent(agentID("C"), on: relayID("relay-a"))
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                _ = try await backend.heartbeatRelay(relayID("relay-b"))
                _ = try await backend.heartbeatAgent(agentID("b"), expectedRelayID: nil)
                _ = try await backend.registerAgent(agentID("aa"), on: relayID("relay-b"))
                let agents = try await backend.listAgents().entries
                #expect(agents.map(\.id.rawValue) == ["C", "a", "aa", "b"])
                #expect(agents.map(\.relayID.rawValue) == ["relay-a", "relay-b", "relay-b", "relay-a"])
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                _ = try await backend.heartbeatRelay(relayID("relay-b"))
                #expect(try await backend.agentIDs() == ["aa", "b"])
            }
        },
    ]
}
