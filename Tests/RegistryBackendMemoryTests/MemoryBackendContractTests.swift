import RegistryBackendMemory
import RegistryCore
import RegistryTestKit
import Testing

/// Runs the backend contract against fresh in-memory backends on a manual clock.
struct MemoryHarness: BackendHarness {
    let clock = ManualClock()
    var clockPrecision: ClockPrecision { .exact }

    func withBackend<Result: Sendable>(
        ttl: TTLPolicy,
        limits: CapacityLimits,
        _ body: (any RegistryBackend) async throws -> Result
    ) async throws -> Result {
        try await body(MemoryBackend(ttl: ttl, limits: limits, clock: self.clock))
    }

    func advance(by duration: Duration) async throws {
        self.clock.advance(by: duration)
    }
}

@Suite("Memory backend contract")
struct MemoryBackendContractTests {
    @Test(arguments: BackendContract.cases(for: .exact))
    func contract(_ contractCase: BackendContractCase) async throws {
        try await contractCase.run(MemoryHarness())
    }
}
