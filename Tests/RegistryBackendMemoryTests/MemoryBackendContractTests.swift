import RegistryTestKit
import Testing

@Suite("Memory backend contract")
struct MemoryBackendContractTests {
    @Test(arguments: BackendContract.cases(for: .exact))
    func contract(_ contractCase: BackendContractCase) async throws {
        try await contractCase.run(MemoryHarness())
    }
}
