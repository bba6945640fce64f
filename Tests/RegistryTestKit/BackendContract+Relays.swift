import RegistryCore
import Testing

extension BackendContract {
    static let relayCases: [BackendContractCase] = [
        BackendContractCase("registering a relay makes it live with registry time") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let before = try await backend.listRelays().asOf
                let result = try await backend.registerRelay(registration("relay-a", port: 7001, address: "relay-a.example"))
                #expect(result.outcome == .created)
                #expect(result.relay.lastHeartbeat >= before)
                let listed = try await backend.listRelays()
                #expect(listed.entries == [result.relay])
                #expect(listed.entries.first?.endpoint.address == "relay-a.example")
                #expect(listed.entries.first?.endpoint.grpcPort == 7001)
            }
        },
        BackendContractCase("registering a live relay again updates its endpoint and keeps its agents") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a", port: 7001))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                let again = try await backend.registerRelay(registration("relay-a", port: 7002, address: "10.9.9.9"))
                #expect(again.outcome == .renewed)
                let relays = try await backend.listRelays().entries
                #expect(relays.count == 1)
                #expect(relays.first?.endpoint == (try RelayEndpoint(address: "10.9.9.9", grpcPort: 7002)))
                #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-a"))
            }
        },
        BackendContractCase("registration renews a relay's liveness") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.registerRelay(registration("relay-a"))
                try await harness.advance(by: unit * 0.6)
                #expect(try await backend.relayIDs() == ["relay-a"])
            }
        },
        BackendContractCase("a relay expires one TTL after its last heartbeat") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                try await harness.advance(by: unit * 0.5)
                #expect(try await backend.relayIDs() == ["relay-a"])
                try await harness.advance(by: unit * 0.7)
                #expect(try await backend.relayIDs() == [])
            }
        },
        BackendContractCase("a relay is live until exactly its deadline", needs: .exact) { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                try await harness.advance(by: unit - .milliseconds(1))
                #expect(try await backend.relayIDs() == ["relay-a"])
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
                try await harness.advance(by: unit - .milliseconds(1))
                #expect(try await backend.relayIDs() == ["relay-a"])
                try await harness.advance(by: .milliseconds(1))
                #expect(try await backend.relayIDs() == [])
                await expectRegistryError(.notFound) { try await backend.heartbeatRelay(relayID("relay-a")) }
            }
        },
        BackendContractCase("heartbeating a live relay renews it and keeps its endpoint") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let registered = try await backend.registerRelay(registration("relay-a", port: 7005)).relay
                try await harness.advance(by: unit * 0.6)
                let renewed = try await backend.heartbeatRelay(relayID("relay-a"))
                #expect(renewed.lastHeartbeat > registered.lastHeartbeat)
                #expect(renewed.endpoint == registered.endpoint)
                try await harness.advance(by: unit * 0.6)
                #expect(try await backend.listRelays().entries == [renewed])
            }
        },
        BackendContractCase("heartbeating an unknown relay is not found and creates nothing") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                await expectRegistryError(.notFound) { try await backend.heartbeatRelay(relayID("ghost")) }
                let relays = try await backend.relayIDs()
                #expect(relays == [])
            }
        },
        BackendContractCase("heartbeating an expired relay is not found; registering restores it") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                try await harness.advance(by: unit * 1.2)
                await expectRegistryError(.notFound) { try await backend.heartbeatRelay(relayID("relay-a")) }
                #expect(try await backend.relayIDs() == [])
                let again = try await backend.registerRelay(registration("relay-a"))
                #expect(again.outcome == .recreated)
                #expect(try await backend.relayIDs() == ["relay-a"])
                _ = try await backend.heartbeatRelay(relayID("relay-a"))
            }
        },
        BackendContractCase("a relay registered again after expiring starts without its old agents") { harness in
            try await harness.withBackend(ttl: longAgentTTL) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                try await harness.advance(by: unit * 1.2)
                _ = try await backend.registerRelay(registration("relay-a"))
                // agent-1's own TTL has not run out, but it belonged to the expired incarnation.
                #expect(try await backend.agentIDs() == [])
                await expectRegistryError(.notFound) { try await backend.placement(of: agentID("agent-1")) }
                await expectRegistryError(.notFound) {
                    try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: nil)
                }
                // The agent registers again through the new incarnation.
                _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
                #expect(try await backend.agentIDs() == ["agent-1"])
            }
        },
        BackendContractCase("relays are listed live only, sorted by ID bytes") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                for id in ["relay-c", "relay-a", "Relay-Z", "relay-b"] {
                    _ = try await backend.registerRelay(registration(id))
                }
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.heartbeatRelay(relayID("relay-b"))
                _ = try await backend.registerRelay(registration("relay-0"))
                #expect(try await backend.relayIDs() == ["Relay-Z", "relay-0", "relay-a", "relay-b", "relay-c"])
                try await harness.advance(by: unit * 0.6)
                #expect(try await backend.relayIDs() == ["relay-0", "relay-b"])
            }
        },
    ]
}
