import RegistryCore
import Testing

/// What a sync counts for the registry's metrics (``RelaySyncResult/movedAgents`` and
/// ``RelaySyncResult/relayRecreated``): the same events ``RegistryBackend/registerAgent(_:on:)``
/// and ``RegistryBackend/registerRelay(_:)`` report, run against every backend.
extension BackendContract {
    static let syncCountCases: [BackendContractCase] = [
        BackendContractCase("a sync counts the placements that moved an agent off a live placement on another relay") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-b", place: ["moved-1", "moved-2", "expired"]))
                _ = try await backend.syncRelay(sync("relay-a", place: ["here"]))
                _ = try await backend.syncRelay(sync("relay-c", place: ["orphan"]))
                try await harness.advance(by: unit * 0.6)
                // relay-b and its moved-* agents are renewed; "expired" and relay-c (with "orphan") are not.
                _ = try await backend.syncRelay(sync("relay-b", renew: ["moved-1", "moved-2"]))
                _ = try await backend.syncRelay(sync("relay-a", renew: ["here"]))
                try await harness.advance(by: unit * 0.6)

                let result = try await backend.syncRelay(
                    sync("relay-a", place: ["moved-1", "here", "unknown", "expired", "orphan", "moved-2"], renew: ["ghost"])
                )
                #expect(result.movedAgents == 2)
                #expect(result.lost == [LostAgent(agentID: agentID("ghost"), reason: .notLive)])
                #expect(try await backend.listAgents().entries.allSatisfy { $0.relayID == relayID("relay-a") })

                // Renewals never move an agent, so they never count.
                let renewal = try await backend.syncRelay(sync("relay-b", renew: ["moved-1"]))
                #expect(renewal.movedAgents == 0)
                #expect(renewal.lost == [LostAgent(agentID: agentID("moved-1"), reason: .placedElsewhere(current: relayID("relay-a")))])
                // Placed on the relay it is already on: renewed, not moved.
                #expect(try await backend.syncRelay(sync("relay-a", place: ["moved-1", "moved-2"])).movedAgents == 0)
                // Moved back, onto a relay this sync starts.
                let started = try await backend.syncRelay(sync("relay-d", place: ["moved-2", "fresh"]))
                #expect(started.relayStarted)
                #expect(started.movedAgents == 1)
            }
        },
        BackendContractCase("an agent still within its own TTL on a relay that expired does not count as moved") { harness in
            try await harness.withBackend(ttl: longAgentTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-1", "agent-2"]))
                try await harness.advance(by: unit * 1.2)
                // relay-b expired; its agents' own deadlines have not passed.
                let result = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                #expect(result.movedAgents == 0)
                #expect(result.lost.isEmpty)
                // Nor on relay-b's next incarnation: they belonged to the expired one.
                let again = try await backend.syncRelay(sync("relay-b", place: ["agent-2"]))
                #expect(again.relayStarted)
                #expect(again.movedAgents == 0)
            }
        },
        BackendContractCase("placements lost to capacity or to a draining relay do not count as moved") { harness in
            try await harness.withBackend(ttl: evenTTL, limits: CapacityLimits(maxRelays: 3, maxAgents: 4)) { backend in
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-1", "agent-2"]))
                _ = try await backend.syncRelay(sync("relay-a", place: ["here"]))
                // "new-1" and "new-2" need room (one is left), moves do not.
                let result = try await backend.syncRelay(sync("relay-a", place: ["new-1", "new-2", "agent-1"]))
                #expect(result.lost == [LostAgent(agentID: agentID("new-2"), reason: .capacity)])
                #expect(result.movedAgents == 1)

                try await backend.setDraining(relayID("relay-a"), true)
                let draining = try await backend.syncRelay(sync("relay-a", place: ["here", "agent-2"]))
                #expect(draining.lost == [LostAgent(agentID: agentID("agent-2"), reason: .relayDraining)])
                #expect(draining.movedAgents == 0)
                #expect(try await backend.placement(of: agentID("agent-2")).relayID == relayID("relay-b"))
            }
        },
        BackendContractCase("a sync counts a move exactly when registerAgent would report a previous relay") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                // Twin agents: "v1-*" placed with registerAgent, "sync-*" with a sync, in the same states.
                for prefix in ["v1", "sync"] {
                    _ = try await backend.syncRelay(sync("relay-b", place: ["\(prefix)-live", "\(prefix)-expired"]))
                    _ = try await backend.syncRelay(sync("relay-a", place: ["\(prefix)-here"]))
                }
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.syncRelay(sync("relay-b", renew: ["v1-live", "sync-live"]))
                _ = try await backend.syncRelay(sync("relay-a", renew: ["v1-here", "sync-here"]))
                try await harness.advance(by: unit * 0.6)
                var registeredMoves = 0
                for agent in ["live", "expired", "here", "unknown"] {
                    if try await backend.registerAgent(agentID("v1-\(agent)"), on: relayID("relay-a")).previousRelayID != nil {
                        registeredMoves += 1
                    }
                }
                let synced = try await backend.syncRelay(sync("relay-a", place: ["sync-live", "sync-expired", "sync-here", "sync-unknown"]))
                #expect(registeredMoves == 1)
                #expect(synced.movedAgents == registeredMoves)
            }
        },
        BackendContractCase("a sync says whether it started a relay that was unknown or one that had expired") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let first = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                #expect(first.relayStarted)
                #expect(!first.relayRecreated)
                #expect(first.movedAgents == 0)

                try await harness.advance(by: unit * 0.6)
                let renewed = try await backend.syncRelay(sync("relay-a", renew: ["agent-1"]))
                #expect(!renewed.relayStarted)
                #expect(!renewed.relayRecreated)
                let renewedOnly = try await backend.syncRelay(sync("relay-a", endpoint: false, renew: ["agent-1"]))
                #expect(!renewedOnly.relayStarted)
                #expect(!renewedOnly.relayRecreated)

                try await harness.advance(by: unit * 1.2)
                let again = try await backend.syncRelay(sync("relay-a", renew: ["agent-1"]))
                #expect(again.relayStarted)
                #expect(again.relayRecreated)
                #expect(again.incarnation != first.incarnation)
                // Renewing the incarnation it started is neither.
                let next = try await backend.syncRelay(sync("relay-a"))
                #expect(!next.relayStarted)
                #expect(!next.relayRecreated)
            }
        },
        BackendContractCase("a sync after a deregistration starts the relay again, recreated exactly when registerRelay would say so") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                // Twin relays: "relay-v1" registered again with registerRelay, "relay-sync" with a sync.
                let first = try await backend.syncRelay(sync("relay-sync", place: ["agent-1"]))
                _ = try await backend.syncRelay(sync("relay-v1", place: ["agent-2"]))
                _ = try await backend.deregisterRelay(relayID("relay-sync"))
                _ = try await backend.deregisterRelay(relayID("relay-v1"))
                let again = try await backend.syncRelay(sync("relay-sync", place: ["agent-1"]))
                let registered = try await backend.registerRelay(registration("relay-v1"))
                #expect(again.relayStarted)
                #expect(again.incarnation != first.incarnation)
                #expect(again.relayRecreated == (registered.outcome == .recreated))
                #expect(again.movedAgents == 0)
            }
        },
    ]
}
