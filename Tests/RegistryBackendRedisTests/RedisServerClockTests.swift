import RegistryCore
import RegistryTestKit
import Testing

/// The scripts' time path: Redis's `TIME`, as in production, shifted forward by the harness
/// instead of sleeping. TTLs are a minute and checks sit half a TTL from any deadline, so
/// real time passing during the test (seconds, on a loaded machine) cannot change an outcome.
@Suite("Redis backend on Redis's clock", .timeLimit(.minutes(2)))
struct RedisServerClockTests {
    let ttl = try! TTLPolicy(relayTTL: .seconds(60), agentTTL: .seconds(60))

    func relay(_ raw: String) throws -> RelayID { try RelayID(validating: raw) }
    func agent(_ raw: String) throws -> AgentID { try AgentID(validating: raw) }
    func registration(_ raw: String) throws -> RelayRegistration {
        RelayRegistration(id: try self.relay(raw), endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000))
    }

    @Test("every time the backend records or reports is Redis's")
    func registryTime() async throws {
        let harness = try await RedisHarness.shiftedServerClock(suite: "server-clock")
        try await harness.withBackend(ttl: self.ttl) { backend in
            try await harness.advance(by: .seconds(3_600))  // far from this machine's clock
            let before = try await harness.now()
            let relay = try await backend.registerRelay(try self.registration("relay-a")).relay
            let placement = try await backend.registerAgent(try self.agent("drone-7"), on: try self.relay("relay-a")).placement
            let relays = try await backend.listRelays()
            let after = try await harness.now()
            let window = before...after
            #expect(window.contains(relay.lastHeartbeat))
            #expect(window.contains(placement.lastUpdated))
            #expect(window.contains(relays.asOf))
            #expect(relays.entries == [relay])
            #expect(try await backend.placement(of: try self.agent("drone-7")) == placement)
        }
    }

    @Test("relays and agents live for their TTL on Redis's clock, and expired relays come back empty")
    func lifecycle() async throws {
        let harness = try await RedisHarness.shiftedServerClock(suite: "server-clock")
        try await harness.withBackend(ttl: self.ttl) { backend in
            _ = try await backend.registerRelay(try self.registration("relay-a"))
            _ = try await backend.registerRelay(try self.registration("relay-b"))
            _ = try await backend.registerAgent(try self.agent("drone-1"), on: try self.relay("relay-a"))
            _ = try await backend.registerAgent(try self.agent("drone-2"), on: try self.relay("relay-a"))

            try await harness.advance(by: .seconds(30))
            _ = try await backend.heartbeatRelay(try self.relay("relay-a"))
            _ = try await backend.heartbeatAgent(try self.agent("drone-1"), expectedRelayID: try self.relay("relay-a"))
            let moved = try await backend.registerAgent(try self.agent("drone-2"), on: try self.relay("relay-b"))
            #expect(moved.previousRelayID == (try self.relay("relay-a")))
            await #expect(throws: RegistryError.self) {
                try await backend.heartbeatAgent(try self.agent("drone-2"), expectedRelayID: try self.relay("relay-a"))
            }

            // relay-b and drone-2 expire with it; relay-a and drone-1 were renewed.
            try await harness.advance(by: .seconds(45))
            #expect(try await backend.listRelays().entries.map(\.id.rawValue) == ["relay-a"])
            #expect(try await backend.listAgents().entries.map(\.id.rawValue) == ["drone-1"])
            await #expect(throws: RegistryError.self) { try await backend.heartbeatRelay(try self.relay("relay-b")) }
            await #expect(throws: RegistryError.self) { try await backend.placement(of: try self.agent("drone-2")) }
            let pruned = try await backend.removeExpired(limit: 100)
            #expect(pruned.relaysRemoved == 1)

            // relay-a expires too; registered again, it is a new incarnation without drone-1.
            try await harness.advance(by: .seconds(45))
            #expect(try await backend.listRelays().entries.isEmpty)
            let again = try await backend.registerRelay(try self.registration("relay-a"))
            #expect(again.outcome == .recreated)
            #expect(try await backend.listAgents().entries.isEmpty)
            await #expect(throws: RegistryError.self) {
                try await backend.heartbeatAgent(try self.agent("drone-1"), expectedRelayID: nil)
            }
            _ = try await backend.registerAgent(try self.agent("drone-1"), on: try self.relay("relay-a"))
            #expect(try await backend.listAgents().entries.map(\.relayID.rawValue) == ["relay-a"])
        }
    }

    @Test("capacity counts only what is live on Redis's clock")
    func capacity() async throws {
        let harness = try await RedisHarness.shiftedServerClock(suite: "server-clock")
        try await harness.withBackend(ttl: self.ttl, limits: CapacityLimits(maxRelays: 1, maxAgents: 1)) { backend in
            _ = try await backend.registerRelay(try self.registration("relay-a"))
            _ = try await backend.registerAgent(try self.agent("drone-1"), on: try self.relay("relay-a"))
            await #expect(throws: RegistryError.self) { try await backend.registerRelay(try self.registration("relay-b")) }
            await #expect(throws: RegistryError.self) {
                try await backend.registerAgent(try self.agent("drone-2"), on: try self.relay("relay-a"))
            }
            try await harness.advance(by: .seconds(90))
            _ = try await backend.registerRelay(try self.registration("relay-b"))
            _ = try await backend.registerAgent(try self.agent("drone-2"), on: try self.relay("relay-b"))
            #expect(try await backend.listAgents().entries.map(\.id.rawValue) == ["drone-2"])
        }
    }
}
