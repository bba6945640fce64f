import RegistryCore
import Testing

extension BackendContract {
    /// IDs that must all be stored, returned byte for byte, and kept apart.
    static let awkwardIDs: [String] = [
        "plain",
        "with:colon",
        "with/slash",
        "with*star",
        "with space",
        "{hash-tag}",
        "a",
        "a/b",
        "a:b",
        "ünïcödé",
        "e\u{301}",  // "é" as e + combining acute accent...
        "\u{e9}",  // ...and as one precomposed scalar: canonically equal, different bytes
        "ドローン",
        "🚁",
        "%2F",
        "..",
        "\\",
        "\"quoted\"",
        String(repeating: "x", count: 256),
    ]

    static let identifierCases: [BackendContractCase] = [
        BackendContractCase("any valid ID round-trips exactly and never collides with another") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                for (index, raw) in awkwardIDs.enumerated() {
                    _ = try await backend.registerRelay(registration(raw, port: 1000 + index))
                }
                for raw in awkwardIDs {
                    _ = try await backend.registerAgent(agentID(raw), on: relayID(raw))
                }
                let relays = try await backend.listRelays().entries
                #expect(relays.count == awkwardIDs.count)
                #expect(relays.map { Array($0.id.rawValue.utf8) } == awkwardIDs.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
                for (index, raw) in awkwardIDs.enumerated() {
                    let relay = relays.first { $0.id == relayID(raw) }
                    #expect(relay?.endpoint.grpcPort == 1000 + index, "relay \(raw)")
                    let placement = try await backend.placement(of: agentID(raw))
                    #expect(Array(placement.relayID.rawValue.utf8) == Array(raw.utf8), "agent \(raw)")
                    _ = try await backend.heartbeatAgent(agentID(raw), expectedRelayID: relayID(raw))
                }
                let agents = try await backend.listAgents().entries
                #expect(agents.map { Array($0.id.rawValue.utf8) } == relays.map { Array($0.id.rawValue.utf8) })
            }
        },
    ]

    static let expiryCases: [BackendContractCase] = [
        BackendContractCase("removing expired entries keeps every live one") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-old"))
                _ = try await backend.registerRelay(registration("relay-new"))
                for index in 0..<20 {
                    _ = try await backend.registerAgent(agentID("old-\(index)"), on: relayID("relay-old"))
                    _ = try await backend.registerAgent(agentID("stale-\(index)"), on: relayID("relay-new"))
                }
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-new"))
                _ = try await backend.registerAgent(agentID("fresh"), on: relayID("relay-new"))
                try await harness.advance(by: unit * 0.6)
                var removed = ExpiryReport()
                while true {
                    let batch = try await backend.removeExpired(limit: 7)
                    removed += batch
                    if batch.total == 0 { break }
                }
                #expect(try await backend.relayIDs() == ["relay-new"])
                #expect(try await backend.agentIDs() == ["fresh"])
                if backend.expiry == .sweep {
                    #expect(removed.relaysRemoved == 1)
                    #expect(removed.agentsRemoved == 40)
                }
                _ = try await backend.heartbeatAgent(agentID("fresh"), expectedRelayID: relayID("relay-new"))
            }
        },
        BackendContractCase("removing expired entries never removes one renewed in time", needs: .exact) { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                try await harness.advance(by: unit - .milliseconds(1))
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                _ = try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: nil)
                try await harness.advance(by: .milliseconds(500))
                let report = try await backend.removeExpired(limit: 1_000)
                #expect(report.total == 0)
                #expect(try await backend.agentIDs() == ["agent-1"])
            }
        },
    ]

    static let capacityCases: [BackendContractCase] = [
        BackendContractCase("relays beyond the limit are refused; expired ones make room") { harness in
            try await harness.withBackend(ttl: evenTTL, limits: CapacityLimits(maxRelays: 2, maxAgents: 100)) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerRelay(registration("relay-b"))
                await expectRegistryError(.resourceExhausted) { try await backend.registerRelay(registration("relay-c")) }
                #expect(try await backend.relayIDs() == ["relay-a", "relay-b"])
                // Renewing an existing relay at the limit is fine.
                _ = try await backend.registerRelay(registration("relay-a", port: 7777))
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.registerRelay(registration("relay-c"))
                #expect(try await backend.relayIDs() == ["relay-a", "relay-c"])
            }
        },
        BackendContractCase("agents beyond the limit are refused; moves and expired agents do not count") { harness in
            try await harness.withBackend(ttl: evenTTL, limits: CapacityLimits(maxRelays: 10, maxAgents: 2)) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerRelay(registration("relay-b"))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                _ = try await backend.registerAgent(agentID("agent-2"), on: relayID("relay-a"))
                await expectRegistryError(.resourceExhausted) { try await backend.registerAgent(agentID("agent-3"), on: relayID("relay-a")) }
                _ = try await backend.registerAgent(agentID("agent-2"), on: relayID("relay-b"))
                #expect(try await backend.agentIDs() == ["agent-1", "agent-2"])
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                _ = try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: nil)
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                // agent-2 died with relay-b; its place is free.
                _ = try await backend.registerAgent(agentID("agent-3"), on: relayID("relay-a"))
                #expect(try await backend.agentIDs() == ["agent-1", "agent-3"])
            }
        },
    ]

    static let concurrencyCases: [BackendContractCase] = [
        BackendContractCase("concurrent registrations, moves and heartbeats leave one consistent placement per agent") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let relays = (0..<4).map { "relay-\($0)" }
                for relay in relays {
                    _ = try await backend.registerRelay(registration(relay))
                }
                let agents = (0..<25).map { "agent-\($0)" }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            for round in 0..<10 {
                                for (index, agent) in agents.enumerated() {
                                    let relay = relays[(index + worker + round) % relays.count]
                                    _ = try await backend.registerAgent(agentID(agent), on: relayID(relay))
                                    do {
                                        _ = try await backend.heartbeatAgent(agentID(agent), expectedRelayID: nil)
                                    } catch let error as RegistryError where error.code == .notFound {
                                        Issue.record("a registered agent must stay live: \(error)")
                                    }
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let listed = try await backend.listAgents().entries
                #expect(listed.map(\.id.rawValue) == agents.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
                for agent in listed {
                    #expect(try await backend.placement(of: agent.id).relayID == agent.relayID)
                }
            }
        },
    ]
}
