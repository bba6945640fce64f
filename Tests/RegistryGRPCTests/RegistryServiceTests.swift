import SwiftProtobuf
import GRPCCore
import RegistryBackendMemory
import RegistryClient
import RegistryCore
import RegistryProtos
import RegistryTestKit
import Testing

/// The registry service end to end, against every backend.
@Suite("AeroRegistry over gRPC")
struct RegistryServiceTests {
    @Test("the relay and agent lifecycle works end to end with registry-owned times", arguments: TestBackends.all)
    func lifecycle(_ backend: TestBackend) async throws {
        let harness = try await backend.makeHarness()
        try await withRunningRegistry(harness: harness) { server in
            let before = try await harness.now()
            let registry = server.registry
            _ = try await registry.registerRelay(.with {
                $0.relay = .with {
                    $0.relayID = "relay-1"
                    $0.address = "10.0.0.1"
                    $0.grpcPort = 7000
                    $0.lastHeartbeatUnixMs = 42  // a client time: ignored
                }
            })
            try await harness.advance(by: .seconds(1))
            // The relay that exists today sends heartbeats without a timestamp.
            _ = try await registry.heartbeatRelay(.with { $0.relayID = "relay-1" })
            _ = try await registry.registerAgent(.with {
                $0.agent = .with {
                    $0.agentID = "drone-7"
                    $0.lastHeartbeatUnixMs = 42
                }
                $0.relayID = "relay-1"
            })
            _ = try await registry.heartbeatAgent(.with {
                $0.agentID = "drone-7"
                $0.timestampUnixMs = 1
                $0.relayID = "relay-1"
            })

            let after = try await harness.now()
            let registryTimes = before.rawValue...after.rawValue
            let relays = try await registry.listRelays(.init()).relays
            #expect(relays.count == 1)
            #expect(relays.first?.relayID == "relay-1")
            #expect(relays.first?.address == "10.0.0.1")
            #expect(relays.first?.grpcPort == 7000)
            let relayHeartbeat = try #require(relays.first?.lastHeartbeatUnixMs)
            #expect(registryTimes.contains(relayHeartbeat))

            let agents = try await registry.listAgents(.init()).agents
            #expect(agents.map(\.agentID) == ["drone-7"])
            let agentHeartbeat = try #require(agents.first?.lastHeartbeatUnixMs)
            #expect(registryTimes.contains(agentHeartbeat))
            #expect(agentHeartbeat >= relayHeartbeat)

            let placement = try await registry.getAgentPlacement(.with { $0.agentID = "drone-7" }).placement
            #expect(placement.relayID == "relay-1")
            #expect(placement.lastUpdatedUnixMs == agentHeartbeat)
        }
    }

    @Test("entries expire on the registry's clock and NOT_FOUND tells relays to register again", arguments: TestBackends.all)
    func expiry(_ backend: TestBackend) async throws {
        let harness = try await backend.makeHarness()
        let ttl = try TTLPolicy(relayTTL: .seconds(2), agentTTL: .seconds(60))
        try await withRunningRegistry(harness: harness, ttl: ttl) { server in
            let client = server.client
            try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)
            try await client.registerAgent(id: "drone-7", relayID: "relay-1")
            try await harness.advance(by: .milliseconds(2_500))
            #expect(try await client.listRelays().entries.isEmpty)
            #expect(try await client.listAgents().entries.isEmpty)
            await expectRPCError(.notFound) { try await client.placement(of: "drone-7") }
            await expectRPCError(.notFound) { try await client.heartbeatRelay(id: "relay-1") }
            await expectRPCError(.notFound) { try await client.heartbeatAgent(id: "drone-7") }
            await expectRPCError(.notFound) { try await client.registerAgent(id: "drone-7", relayID: "relay-1") }
            // The documented recovery: register again.
            try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)
            try await client.heartbeatRelay(id: "relay-1")
            try await client.registerAgent(id: "drone-7", relayID: "relay-1")
            #expect(try await client.placement(of: "drone-7").placement.relayID.rawValue == "relay-1")
        }
    }

    @Test("a heartbeat naming another relay is NOT_FOUND and does not move the agent", arguments: TestBackends.all)
    func heartbeatWrongRelay(_ backend: TestBackend) async throws {
        try await withRunningRegistry(harness: try await backend.makeHarness()) { server in
            let client = server.client
            try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)
            try await client.registerRelay(id: "relay-2", address: "10.0.0.2", grpcPort: 7000)
            try await client.registerAgent(id: "drone-7", relayID: "relay-1")
            let error = await expectRPCError(.notFound) { try await client.heartbeatAgent(id: "drone-7", relayID: "relay-2") }
            #expect(error?.message.contains("relay-2") == true)
            #expect(try await client.placement(of: "drone-7").placement.relayID.rawValue == "relay-1")
            try await client.registerAgent(id: "drone-7", relayID: "relay-2")
            #expect(try await client.placement(of: "drone-7").placement.relayID.rawValue == "relay-2")
        }
    }

    @Test("capacity limits answer RESOURCE_EXHAUSTED", arguments: TestBackends.all)
    func capacity(_ backend: TestBackend) async throws {
        let harness = try await backend.makeHarness()
        try await withRunningRegistry(harness: harness, limits: CapacityLimits(maxRelays: 1, maxAgents: 1)) { server in
            let client = server.client
            try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)
            await expectRPCError(.resourceExhausted) { try await client.registerRelay(id: "relay-2", address: "10.0.0.1", grpcPort: 7000) }
            try await client.registerAgent(id: "a", relayID: "relay-1")
            let error = await expectRPCError(.resourceExhausted) { try await client.registerAgent(id: "b", relayID: "relay-1") }
            #expect(error?.message.contains("agent limit") == true)
        }
    }

    @Test("list and placement responses carry the TTLs and the evaluation time", arguments: TestBackends.all)
    func timingMetadata(_ backend: TestBackend) async throws {
        let harness = try await backend.makeHarness()
        let ttl = try TTLPolicy(relayTTL: .seconds(12), agentTTL: .seconds(34))
        try await withRunningRegistry(harness: harness, ttl: ttl) { server in
            let client = server.client
            try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)
            try await client.registerAgent(id: "a", relayID: "relay-1")
            let before = try await harness.now()
            let relays = try await client.listRelays()
            let agents = try await client.listAgents()
            let after = try await harness.now()
            #expect(relays.timing.relayTTL == .seconds(12))
            #expect(relays.timing.agentTTL == .seconds(34))
            #expect(relays.timing.asOf.map { (before...after).contains($0) } == true)
            #expect(agents.timing.asOf.map { (before...after).contains($0) } == true)
            #expect(try await client.placement(of: "a").timing.agentTTL == .seconds(34))
        }
    }

    @Test("any valid ID round-trips over the wire, distinct from its look-alikes", arguments: TestBackends.all)
    func awkwardIDs(_ backend: TestBackend) async throws {
        let ids = ["with:colon", "with/slash", "*", "with space", "{tag}", "ドローン", "e\u{301}", "\u{e9}", String(repeating: "é", count: 128)]
        try await withRunningRegistry(harness: try await backend.makeHarness()) { server in
            let registry = server.registry
            for id in ids {
                _ = try await registry.registerRelay(.with {
                    $0.relay = .with {
                        $0.relayID = id
                        $0.address = "10.0.0.1"
                        $0.grpcPort = 1
                    }
                })
                _ = try await registry.registerAgent(.with {
                    $0.agent.agentID = id
                    $0.relayID = id
                })
            }
            let relays = try await registry.listRelays(.init()).relays.map { Array($0.relayID.utf8) }
            #expect(relays == ids.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
            for id in ids {
                let placement = try await registry.getAgentPlacement(.with { $0.agentID = id }).placement
                #expect(Array(placement.agentID.utf8) == Array(id.utf8))
                #expect(Array(placement.relayID.utf8) == Array(id.utf8))
            }
        }
    }
}
