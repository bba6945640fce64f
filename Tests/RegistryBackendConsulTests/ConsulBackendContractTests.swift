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

    @Test("the real-Consul harness (random prefix, deleted afterwards) passes the suite, checked against a double")
    func realConsulHarness() async throws {
        try await ConsulDouble.with { double in
            let harness = ConsulHarness.realConsul(address: double.address)
            for contractCase in BackendContract.cases(for: .exact) {
                try await contractCase.run(harness)
                let left = double.store.entries.keys.filter { $0.hasPrefix("aero-arc-registry-test/") }
                #expect(left.isEmpty, "\(contractCase.name) left \(left.count) keys behind")
            }
            #expect(double.requestLog.contains { $0.hasPrefix("DELETE /v1/kv/aero-arc-registry-test/") && $0.hasSuffix("?recurse") })
        }
    }
}
