import RegistryCore
import RegistryTestKit
import Testing

/// The backend contract against a real redis-server.
@Suite("Redis backend contract", .timeLimit(.minutes(2)))
struct RedisBackendContractTests {
    /// Every case, with the scripts' time pinned to a manual clock: exact to the millisecond.
    @Test("contract, pinned clock", arguments: BackendContract.cases(for: .exact))
    func exact(_ contractCase: BackendContractCase) async throws {
        try await contractCase.run(try await RedisHarness.exact(suite: "contract"))
    }

    /// The cases that tolerate real time, again on Redis's own `TIME` as in production, so
    /// that the time path of every script is exercised too. They wait through their TTLs
    /// (2s units), in parallel, so this takes a few seconds.
    ///
    /// Left out: the concurrency case. It makes 4,000 calls that must all finish within one
    /// 2s relay TTL, which a debug build sharing two cores with the rest of the suite cannot
    /// promise; what it checks (atomic moves and renewals) does not depend on the clock and
    /// is checked by the pinned-clock run above.
    @Test("contract, Redis server clock", arguments: BackendContract.cases(for: .realTime).filter { !$0.name.hasPrefix("concurrent") })
    func serverClock(_ contractCase: BackendContractCase) async throws {
        try await contractCase.run(try await RedisHarness.realTime(suite: "contract"))
    }
}
