public import RegistryCore

/// What the backend contract suite needs from a backend under test: fresh, running
/// backends on empty storage, and a way to move their clock.
public protocol BackendHarness: Sendable {
    /// What this harness's clock can do; cases that need more are not run against it.
    var clockPrecision: ClockPrecision { get }

    /// Runs `body` with a running backend on fresh, empty storage, then stops it.
    func withBackend<Result: Sendable>(
        ttl: TTLPolicy,
        limits: CapacityLimits,
        _ body: (any RegistryBackend) async throws -> Result
    ) async throws -> Result

    /// Moves the backends' clock forward by `duration`: at once for an injected clock, by
    /// waiting for a store whose own clock cannot be moved.
    func advance(by duration: Duration) async throws

    /// The backends' current time: what a registration now would record.
    func now() async throws -> UnixMilliseconds
}

/// How precisely a harness controls time.
public enum ClockPrecision: Sendable, Comparable {
    /// Real time passes; only margins of a good part of a TTL can be relied on.
    case realTime
    /// An injected clock: time moves exactly and only when told, to the millisecond.
    case exact
}

extension BackendHarness {
    /// A backend with the default limits.
    public func withBackend<Result: Sendable>(
        ttl: TTLPolicy,
        _ body: (any RegistryBackend) async throws -> Result
    ) async throws -> Result {
        try await self.withBackend(ttl: ttl, limits: CapacityLimits(), body)
    }
}
