import RegistryCore
import RegistryTestKit
import Testing

/// The backend contract against a real redis-server.
@Suite("Redis backend contract", .timeLimit(.minutes(2)))
struct RedisBackendContractTests {
    /// Every case, with the scripts' time pinned to a manual clock: exact to the millisecond.
    ///
    /// The cases are not run a second time on Redis's own clock: their 2s TTL unit leaves
    /// 400ms margins of real time, which a debug build sharing two cores with the whole
    /// suite does not reliably keep. `RedisServerClockTests` covers the scripts' `TIME`
    /// path instead, with margins of many seconds.
    @Test("contract, pinned clock", arguments: BackendContract.cases(for: .exact))
    func exact(_ contractCase: BackendContractCase) async throws {
        try await contractCase.run(try await RedisHarness.exact(suite: "contract"))
    }

}
