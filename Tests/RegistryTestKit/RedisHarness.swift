import Foundation
public import Logging
import RESP
public import RegistryBackendRedis
public import RegistryCore

/// Fresh Redis backends on a real `redis-server`, each call on its own random key prefix
/// (so storage starts empty and nothing is ever flushed).
///
/// Two clocks:
/// - ``exact(suite:)`` pins the scripts' time to a ``ManualClock`` (``RedisTimeSource/fixed(_:)``),
///   so the contract suite runs at millisecond precision without sleeping. Liveness is
///   decided by stored deadlines against that time; Redis's own key expiry stays on real
///   time, with a margin long enough that it never collects what the manual clock still
///   considers live.
/// - ``realTime(suite:)`` uses the Redis server's `TIME`, as production does; advancing
///   time waits.
public struct RedisHarness: BackendHarness {
    public let server: RedisServer
    /// The pinned clock, or nil for the server's own.
    public let clock: ManualClock?
    /// Key expiry margin given to the backends.
    public let garbageCollectionMargin: Duration

    public init(server: RedisServer, clock: ManualClock?, garbageCollectionMargin: Duration? = nil) {
        self.server = server
        self.clock = clock
        self.garbageCollectionMargin = garbageCollectionMargin ?? (clock == nil ? .milliseconds(500) : .seconds(600))
    }

    /// A harness on the shared server of `suite`, with time pinned to a manual clock.
    public static func exact(suite: String) async throws -> RedisHarness {
        RedisHarness(server: try await RedisServerFixture.shared(suite: suite), clock: ManualClock())
    }

    /// A harness on the shared server of `suite`, on the server's clock.
    public static func realTime(suite: String) async throws -> RedisHarness {
        RedisHarness(server: try await RedisServerFixture.shared(suite: suite), clock: nil)
    }

    public var clockPrecision: ClockPrecision { self.clock == nil ? .realTime : .exact }

    /// A key prefix no other test uses.
    public static func uniquePrefix() -> String {
        "test-\(UUID().uuidString.prefix(8)):"
    }

    /// The configuration of a backend on this harness's server and clock.
    public func configuration(keyPrefix: String, timeout: Duration = .seconds(2)) -> RedisBackendConfiguration {
        RedisBackendConfiguration(
            host: self.server.host,
            port: self.server.port,
            poolSize: 2,
            timeout: timeout,
            keyPrefix: keyPrefix,
            garbageCollectionMargin: self.garbageCollectionMargin,
            maintenanceInterval: .milliseconds(200),
            timeSource: self.clock.map { .fixed($0) } ?? .server
        )
    }

    /// A backend (not running) on `keyPrefix`; close it when done.
    public func makeBackend(ttl: TTLPolicy, limits: CapacityLimits = CapacityLimits(), keyPrefix: String) throws -> RedisBackend {
        try RedisBackend(configuration: self.configuration(keyPrefix: keyPrefix), ttl: ttl, limits: limits, logger: Self.quietLogger)
    }

    public func withBackend<Result: Sendable>(
        ttl: TTLPolicy,
        limits: CapacityLimits,
        _ body: (any RegistryBackend) async throws -> Result
    ) async throws -> Result {
        let backend = try self.makeBackend(ttl: ttl, limits: limits, keyPrefix: Self.uniquePrefix())
        do {
            let result = try await body(backend)
            await backend.close()
            return result
        } catch {
            await backend.close()
            throw error
        }
    }

    public func advance(by duration: Duration) async throws {
        if let clock = self.clock {
            clock.advance(by: duration)
        } else {
            try await Task.sleep(for: duration)
        }
    }

    public func now() async throws -> UnixMilliseconds {
        if let clock = self.clock {
            return clock.now()
        }
        return UnixMilliseconds(try await self.server.withConnection { try await $0.send(TimeCommand()) })
    }

    /// A logger that drops everything (tests assert on behaviour, not log lines).
    public static let quietLogger = Logger(label: "redis-test") { _ in SwiftLogNoOpLogHandler() }
}
