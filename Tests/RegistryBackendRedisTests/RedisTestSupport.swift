import RESP
import RegistryBackendRedis
import RegistryCore
import RegistryTestKit

/// Runs `body` with a backend on a fresh prefix of `harness`'s server, and a raw
/// connection to the same server.
func withRedisBackend(
    _ harness: RedisHarness,
    ttl: TTLPolicy = .default,
    limits: CapacityLimits = CapacityLimits(),
    listPageSize: Int? = nil,
    _ body: (RedisBackend, RESPConnection) async throws -> Void
) async throws {
    var configuration = harness.configuration(keyPrefix: RedisHarness.uniquePrefix())
    if let listPageSize {
        configuration.listPageSize = listPageSize
    }
    let backend = try RedisBackend(configuration: configuration, ttl: ttl, limits: limits, logger: RedisHarness.quietLogger)
    defer { Task { await backend.close() } }
    try await harness.server.withConnection { connection in
        try await body(backend, connection)
    }
}
