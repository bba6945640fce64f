import Logging
import MetricsTestKit
import RegistryBackendMemory
import RegistryCore
import RegistryTestKit
import Testing

/// The facade's fleet counters, recorded from what each call's result says.
@Suite("Registry metrics")
struct RegistryMetricsTests {
    @Test("moves and relay restarts are counted from RegisterAgent/RegisterRelay and from SyncRelay alike")
    func movesAndRestarts() async throws {
        let metrics = TestMetrics()
        let clock = ManualClock()
        let backend = MemoryBackend(ttl: .default, clock: clock)
        let registry = Registry(backend: backend, metrics: RegistryMetrics(factory: metrics, backendName: "memory"), logger: Logger(label: "test"))
        func relay(_ raw: String) throws -> RelayID { try RelayID(validating: raw) }
        func agents(_ raws: [String]) throws -> [AgentID] { try raws.map { try AgentID(validating: $0) } }
        let endpoint = try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)

        _ = try await registry.syncRelay(RelaySync(relayID: try relay("relay-b"), endpoint: endpoint, place: try agents(["a1", "a2", "a3"]), renew: []))
        _ = try await registry.registerRelay(RelayRegistration(id: try relay("relay-a"), endpoint: endpoint))
        _ = try await registry.registerAgent(try AgentID(validating: "a1"), on: try relay("relay-a"))
        _ = try await registry.syncRelay(RelaySync(relayID: try relay("relay-a"), endpoint: endpoint, place: try agents(["a2", "a3", "a4"]), renew: []))
        let moves = try metrics.expectCounter("aero_arc_registry_agent_moves_total")
        #expect(moves.totalValue == 3)

        clock.advance(by: .seconds(31))
        _ = try await registry.syncRelay(RelaySync(relayID: try relay("relay-b"), endpoint: endpoint, place: [], renew: []))
        _ = try await registry.registerRelay(RelayRegistration(id: try relay("relay-a"), endpoint: endpoint))
        let restarts = try metrics.expectCounter("aero_arc_registry_relay_restarts_total")
        #expect(restarts.totalValue == 2)
    }
}
