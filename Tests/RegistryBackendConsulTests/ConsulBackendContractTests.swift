import RegistryTestKit
import Testing

@Suite("Consul backend contract")
struct ConsulBackendContractTests {
    @Test("against the Consul double", arguments: BackendContract.cases(for: .exact))
    func double(_ contractCase: BackendContractCase) async throws {
        try await contractCase.run(ConsulHarness.double())
    }

    @Test(
        "against the real Consul at CONSUL_HTTP_ADDR",
        .enabled(if: ConsulHarness.realConsulAddress != nil, "CONSUL_HTTP_ADDR is not set"),
        arguments: BackendContract.cases(for: .exact)
    )
    func realConsul(_ contractCase: BackendContractCase) async throws {
        let harness = try #require(ConsulHarness.realConsul())
        try await contractCase.run(harness)
    }
}
