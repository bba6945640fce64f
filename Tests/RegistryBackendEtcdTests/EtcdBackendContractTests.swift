import RegistryCore
import RegistryTestKit
import Testing

/// The backend contract, against a real etcd, on a manual clock.
@Suite("etcd backend contract")
struct EtcdBackendContractTests {
    @Test(arguments: BackendContract.cases(for: .exact))
    func contract(_ contractCase: BackendContractCase) async throws {
        try await contractCase.run(try await EtcdHarness.shared())
    }
}
