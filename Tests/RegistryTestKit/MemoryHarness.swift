import RegistryBackendMemory
public import RegistryCore

/// Fresh in-memory backends on one manual clock.
public struct MemoryHarness: BackendHarness {
    public let clock: ManualClock

    public init(clock: ManualClock = ManualClock()) {
        self.clock = clock
    }

    public var clockPrecision: ClockPrecision { .exact }

    public func withBackend<Result: Sendable>(
        ttl: TTLPolicy,
        limits: CapacityLimits,
        _ body: (any RegistryBackend) async throws -> Result
    ) async throws -> Result {
        try await body(MemoryBackend(ttl: ttl, limits: limits, clock: self.clock))
    }

    public func advance(by duration: Duration) async throws {
        self.clock.advance(by: duration)
    }

    public func now() async throws -> UnixMilliseconds {
        self.clock.now()
    }
}
