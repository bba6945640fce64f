import Foundation
public import Logging
import RESP
public import RegistryBackendRedis
public import RegistryCore
import Synchronization

/// Fresh Redis backends on a real `redis-server`, each call on its own random key prefix
/// (so storage starts empty and nothing is ever flushed).
///
/// Three ways to keep time:
/// - ``exact(suite:)`` pins the scripts' time to a ``ManualClock`` (``RedisTimeSource/fixed(_:)``),
///   so the contract suite runs at millisecond precision without sleeping. Liveness is
///   decided by stored deadlines against that time; Redis's own key expiry stays on real
///   time, with a margin long enough that it never collects what the manual clock still
///   considers live.
/// - ``shiftedServerClock(suite:)`` uses the Redis server's `TIME`, as production does, plus
///   an offset that ``advance(by:)`` moves at once (``RedisTimeSource/shiftedServer(offset:)``):
///   the scripts' time path is exercised without sleeping through TTLs. Real time passes too,
///   so its precision is ``ClockPrecision/realTime``.
/// - ``realTime(suite:)`` uses `TIME` alone; advancing time waits.
public struct RedisHarness: BackendHarness {
    /// Where the backends' scripts read the time.
    public enum Time: Sendable {
        case pinned(ManualClock)
        case shiftedServer(ClockOffset)
        case server
    }

    /// An offset added to the server's time, moved forward by tests.
    public final class ClockOffset: Sendable {
        private let value = Mutex(Duration.zero)
        public init() {}
        public var current: Duration { self.value.withLock { $0 } }
        public func advance(by duration: Duration) { self.value.withLock { $0 += duration } }
    }

    public let server: RedisServer
    public let time: Time
    /// Key expiry margin given to the backends.
    public let garbageCollectionMargin: Duration

    public init(server: RedisServer, time: Time, garbageCollectionMargin: Duration? = nil) {
        self.server = server
        self.time = time
        if let garbageCollectionMargin {
            self.garbageCollectionMargin = garbageCollectionMargin
        } else if case .pinned = time {
            self.garbageCollectionMargin = .seconds(600)
        } else {
            self.garbageCollectionMargin = .seconds(5)
        }
    }

    /// A harness on the shared server of `suite`, with time pinned to a manual clock.
    public static func exact(suite: String) async throws -> RedisHarness {
        RedisHarness(server: try await RedisServerFixture.shared(suite: suite), time: .pinned(ManualClock()))
    }

    /// A harness on the shared server of `suite`, on the server's clock shifted by what tests advance.
    public static func shiftedServerClock(suite: String) async throws -> RedisHarness {
        RedisHarness(server: try await RedisServerFixture.shared(suite: suite), time: .shiftedServer(ClockOffset()))
    }

    /// A harness on the shared server of `suite`, on the server's clock alone.
    public static func realTime(suite: String) async throws -> RedisHarness {
        RedisHarness(server: try await RedisServerFixture.shared(suite: suite), time: .server)
    }

    public var clockPrecision: ClockPrecision {
        if case .pinned = self.time {
            return .exact
        }
        return .realTime
    }

    /// The manual clock, when time is pinned.
    public var manualClock: ManualClock? {
        if case .pinned(let clock) = self.time {
            return clock
        }
        return nil
    }

    /// A key prefix no other test uses.
    public static func uniquePrefix() -> String {
        "test-\(UUID().uuidString.prefix(8)):"
    }

    /// The configuration of a backend on this harness's server and clock.
    public func configuration(keyPrefix: String, timeout: Duration = .seconds(2)) -> RedisBackendConfiguration {
        let timeSource: RedisTimeSource =
            switch self.time {
            case .pinned(let clock): .fixed(clock)
            case .shiftedServer(let offset): .shiftedServer(offset: { offset.current })
            case .server: .server
            }
        return RedisBackendConfiguration(
            host: self.server.host,
            port: self.server.port,
            poolSize: 2,
            timeout: timeout,
            keyPrefix: keyPrefix,
            garbageCollectionMargin: self.garbageCollectionMargin,
            maintenanceInterval: .milliseconds(200),
            timeSource: timeSource
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
        switch self.time {
        case .pinned(let clock): clock.advance(by: duration)
        case .shiftedServer(let offset): offset.advance(by: duration)
        case .server: try await Task.sleep(for: duration)
        }
    }

    public func now() async throws -> UnixMilliseconds {
        switch self.time {
        case .pinned(let clock):
            return clock.now()
        case .shiftedServer(let offset):
            return UnixMilliseconds(try await self.serverTime()).advanced(by: offset.current)
        case .server:
            return UnixMilliseconds(try await self.serverTime())
        }
    }

    private func serverTime() async throws -> Int64 {
        try await self.server.withConnection { try await $0.send(TimeCommand()) }
    }

    /// A logger that drops everything (tests assert on behaviour, not log lines).
    public static let quietLogger = Logger(label: "redis-test") { _ in SwiftLogNoOpLogHandler() }
}
