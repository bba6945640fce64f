import RegistryCore
import Testing

/// The admin operations' contract (docs/contract.md, "Admin operations"): deregistering
/// relays and agents, and draining relays, run against every backend.
extension BackendContract {
    static let adminCases: [BackendContractCase] = deregisterCases + drainCases

    static let deregisterCases: [BackendContractCase] = [
        BackendContractCase("deregistering a relay ends it and its agents at once and counts them") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1", "agent-2"]))
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-3"]))
                #expect(try await backend.deregisterRelay(relayID("relay-a")) == 2)
                #expect(try await backend.relayIDs() == ["relay-b"])
                #expect(try await backend.agentIDs() == ["agent-3"])
                await expectRegistryError(.notFound) { try await backend.placement(of: agentID("agent-1")) }
                let lookup = try await backend.placements(of: [agentID("agent-1"), agentID("agent-3")])
                #expect(lookup.missing == [agentID("agent-1")])
                #expect(try await backend.listPlacements(relayID: relayID("relay-a"), after: nil, limit: 10).entries.isEmpty)
                #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.relay.id) == [relayID("relay-b")])
                await expectRegistryError(.notFound) { try await backend.heartbeatRelay(relayID("relay-a")) }
                await expectRegistryError(.notFound) { try await backend.heartbeatAgent(agentID("agent-2"), expectedRelayID: nil) }
            }
        },
        BackendContractCase("deregistering a relay counts only its live agents") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1", "agent-2"]))
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-3"]))
                try await harness.advance(by: unit * 0.6)
                // agent-2 moves away, agent-1 is renewed, and the relay with it.
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-2"]))
                _ = try await backend.syncRelay(sync("relay-a", renew: ["agent-1"]))
                #expect(try await backend.deregisterRelay(relayID("relay-a")) == 1)
                #expect(try await backend.placement(of: agentID("agent-2")).relayID == relayID("relay-b"))
            }
        },
        BackendContractCase("deregistering a relay that is unknown or expired is not found") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                await expectRegistryError(.notFound) { try await backend.deregisterRelay(relayID("ghost")) }
                _ = try await backend.registerRelay(registration("relay-a"))
                try await harness.advance(by: unit * 1.2)
                await expectRegistryError(.notFound) { try await backend.deregisterRelay(relayID("relay-a")) }
                _ = try await backend.registerRelay(registration("relay-b"))
                #expect(try await backend.deregisterRelay(relayID("relay-b")) == 0)
                await expectRegistryError(.notFound) { try await backend.deregisterRelay(relayID("relay-b")) }
            }
        },
        BackendContractCase("a relay registered again after deregistration is a new incarnation; its old agents stay dead") { harness in
            try await harness.withBackend(ttl: longAgentTTL) { backend in
                let first = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                _ = try await backend.deregisterRelay(relayID("relay-a"))
                let again = try await backend.syncRelay(sync("relay-a", renew: ["agent-1"]))
                #expect(again.relayStarted)
                #expect(again.incarnation != first.incarnation)
                #expect(again.lost == [LostAgent(agentID: agentID("agent-1"), reason: .notLive)])
                #expect(try await backend.agentIDs() == [])
                _ = try await backend.deregisterRelay(relayID("relay-a"))
                let registered = try await backend.registerRelay(registration("relay-a"))
                #expect(registered.outcome != .renewed)
                await expectRegistryError(.notFound) {
                    try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: relayID("relay-a"))
                }
                #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.agentCount) == [0])
            }
        },
        BackendContractCase("deregistering an agent ends its placement at once; its relay keeps the others") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1", "agent-2"]))
                try await backend.deregisterAgent(agentID("agent-1"), from: nil)
                #expect(try await backend.agentIDs() == ["agent-2"])
                await expectRegistryError(.notFound) { try await backend.placement(of: agentID("agent-1")) }
                await expectRegistryError(.notFound) { try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: nil) }
                #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.agentCount) == [1])
                await expectRegistryError(.notFound) { try await backend.deregisterAgent(agentID("agent-1"), from: nil) }
                // It can be placed again.
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                #expect(try await backend.agentIDs() == ["agent-1", "agent-2"])
            }
        },
        BackendContractCase("deregistering an agent from a relay it is not on is not found and changes nothing") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                _ = try await backend.syncRelay(sync("relay-b"))
                let before = try await backend.placement(of: agentID("agent-1"))
                await expectRegistryError(.notFound) { try await backend.deregisterAgent(agentID("agent-1"), from: relayID("relay-b")) }
                await expectRegistryError(.notFound) { try await backend.deregisterAgent(agentID("agent-1"), from: relayID("ghost")) }
                #expect(try await backend.placement(of: agentID("agent-1")) == before)
                try await backend.deregisterAgent(agentID("agent-1"), from: relayID("relay-a"))
                #expect(try await backend.agentIDs() == [])
            }
        },
        BackendContractCase("deregistering an agent that is unknown or expired is not found") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                await expectRegistryError(.notFound) { try await backend.deregisterAgent(agentID("ghost"), from: nil) }
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                try await harness.advance(by: unit * 0.6)
                // The relay is live, the agent expired.
                await expectRegistryError(.notFound) { try await backend.deregisterAgent(agentID("agent-1"), from: nil) }
                await expectRegistryError(.notFound) { try await backend.deregisterAgent(agentID("agent-1"), from: relayID("relay-a")) }
            }
        },
    ]

    static let drainCases: [BackendContractCase] = [
        BackendContractCase("a draining relay keeps and renews its agents but takes no new placements") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-2"]))
                try await backend.setDraining(relayID("relay-a"), true)

                await expectRegistryError(.failedPrecondition) { try await backend.registerAgent(agentID("agent-2"), on: relayID("relay-a")) }
                await expectRegistryError(.failedPrecondition) { try await backend.registerAgent(agentID("agent-new"), on: relayID("relay-a")) }
                #expect(try await backend.placement(of: agentID("agent-2")).relayID == relayID("relay-b"))
                #expect(try await backend.agentIDs() == ["agent-1", "agent-2"])

                try await harness.advance(by: unit * 0.6)
                let result = try await backend.syncRelay(sync("relay-a", place: ["agent-1", "agent-2", "agent-3"]))
                #expect(
                    result.lost == [
                        LostAgent(agentID: agentID("agent-2"), reason: .relayDraining),
                        LostAgent(agentID: agentID("agent-3"), reason: .relayDraining),
                    ]
                )
                // Already on it: renewed, by the sync and by registerAgent alike.
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                #expect(try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: relayID("relay-a")).relayID == relayID("relay-a"))
                try await harness.advance(by: unit * 0.6)
                #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-a"))
                #expect(try await backend.relayIDs() == ["relay-a"])
                #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [true])
            }
        },
        BackendContractCase("undraining a relay lets it take placements again") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-a"))
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-1"]))
                try await backend.setDraining(relayID("relay-a"), true)
                try await backend.setDraining(relayID("relay-a"), true)
                let statuses = try await backend.listRelayStatuses(after: nil, limit: 10).entries
                #expect(statuses.map(\.draining) == [true, false])
                try await backend.setDraining(relayID("relay-a"), false)
                try await backend.setDraining(relayID("relay-a"), false)
                #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [false, false])
                let moved = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                #expect(moved.previousRelayID == relayID("relay-b"))
                #expect(try await backend.syncRelay(sync("relay-a", place: ["agent-2"])).lost.isEmpty)
                #expect(try await backend.agentIDs() == ["agent-1", "agent-2"])
            }
        },
        BackendContractCase("draining survives renewals and re-registration of the live relay") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                try await backend.setDraining(relayID("relay-a"), true)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                _ = try await backend.registerRelay(registration("relay-a", port: 7001))
                _ = try await backend.syncRelay(sync("relay-a", port: 7002))
                _ = try await backend.syncRelay(sync("relay-a", endpoint: false))
                #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [true])
                await expectRegistryError(.failedPrecondition) { try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a")) }
            }
        },
        BackendContractCase("draining belongs to the incarnation: expiry or deregistration ends it") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                try await backend.setDraining(relayID("relay-a"), true)
                try await harness.advance(by: unit * 1.2)
                _ = try await backend.registerRelay(registration("relay-a"))
                #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [false])
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))

                try await backend.setDraining(relayID("relay-a"), true)
                _ = try await backend.deregisterRelay(relayID("relay-a"))
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-2"]))
                #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [false])
                #expect(try await backend.agentIDs() == ["agent-2"])
            }
        },
        BackendContractCase("draining a relay that is unknown or expired is not found") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                await expectRegistryError(.notFound) { try await backend.setDraining(relayID("ghost"), true) }
                await expectRegistryError(.notFound) { try await backend.setDraining(relayID("ghost"), false) }
                _ = try await backend.registerRelay(registration("relay-a"))
                try await harness.advance(by: unit * 1.2)
                await expectRegistryError(.notFound) { try await backend.setDraining(relayID("relay-a"), true) }
                #expect(try await backend.relayIDs() == [])
            }
        },
    ]
}
