import MetricsTestKit
@testable import RegistryBackendRedis
import RegistryCore
import RegistryTestKit
import Testing

/// Redis deletes expired keys itself; index pruning is where a replica learns of each
/// expiry, once across replicas, and counts it in `aero_arc_registry_expired_total`.
extension RedisBackendTests {
    @Test("pruning counts each expired relay and agent once, across two replicas")
    func expiriesAreCounted() async throws {
        let harness = try await RedisHarness.exact(suite: Self.suite)
        let ttl = try TTLPolicy(relayTTL: .seconds(2), agentTTL: .seconds(2))
        let metrics = TestMetrics()
        let prefix = RedisHarness.uniquePrefix()
        let first = try RedisBackend(
            configuration: harness.configuration(keyPrefix: prefix), ttl: ttl,
            metrics: RegistryMetrics(factory: metrics, backendName: "redis"), logger: RedisHarness.quietLogger
        )
        let second = try RedisBackend(
            configuration: harness.configuration(keyPrefix: prefix), ttl: ttl,
            metrics: RegistryMetrics(factory: metrics, backendName: "redis"), logger: RedisHarness.quietLogger
        )
        defer { Task { await first.close(); await second.close() } }
        for index in 0..<3 {
            _ = try await first.registerRelay(try self.registration("relay-\(index)"))
            _ = try await first.registerAgent(try self.agent("agent-\(index)"), on: try self.relay("relay-\(index)"))
        }
        // A deregistration is not an expiry.
        _ = try await first.deregisterAgent(try self.agent("agent-2"), from: nil)
        try await harness.advance(by: .seconds(1))
        _ = try await first.heartbeatRelay(try self.relay("relay-0"))
        _ = try await first.heartbeatAgent(try self.agent("agent-0"), expectedRelayID: nil)
        try await harness.advance(by: .seconds(1))

        await first.pruneIndexes()
        await second.pruneIndexes()
        let relays = try metrics.expectCounter("aero_arc_registry_expired_total", [("kind", "relay")])
        let agents = try metrics.expectCounter("aero_arc_registry_expired_total", [("kind", "agent")])
        #expect(relays.totalValue == 2)
        #expect(agents.totalValue == 1)
    }
}
