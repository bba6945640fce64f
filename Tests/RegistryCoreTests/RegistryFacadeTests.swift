import Logging
import RegistryCore
import RegistryTestKit
import Testing

@Suite("Registry facade and sweeper")
struct RegistryFacadeTests {
    @Test("errors outside the backend contract become internal errors")
    func wrapsUnexpectedErrors() async throws {
        let registry = Registry(backend: ThrowingBackend(error: SomeError()), logger: Logger(label: "test"))
        await #expect {
            try await registry.listRelays()
        } throws: { error in
            (error as? RegistryError)?.code == .internalError
        }
    }

    @Test("registry errors and cancellation pass through unchanged")
    func passesContractErrors() async throws {
        let notFound = Registry(backend: ThrowingBackend(error: RegistryError.notFound("gone")), logger: Logger(label: "test"))
        await #expect {
            try await notFound.listAgents()
        } throws: { error in
            (error as? RegistryError)?.message == "gone"
        }
        let cancelled = Registry(backend: ThrowingBackend(error: CancellationError()), logger: Logger(label: "test"))
        await #expect(throws: CancellationError.self) { try await cancelled.listAgents() }
    }

    @Test("a sweep pass drains every expired entry batch by batch")
    func sweepDrains() async throws {
        let backend = CountingBackend(expired: 2_500)
        let sweeper = ExpirySweeper(backend: backend, batchSize: 1_000, logger: Logger(label: "test"))
        let report = try await sweeper.sweep()
        #expect(report.agentsRemoved == 2_500)
        #expect(backend.calls == 3)
    }

    @Test("the sweeper runs passes until cancelled")
    func sweeperLoops() async throws {
        let backend = CountingBackend(expired: 0)
        let sweeper = ExpirySweeper(backend: backend, interval: .milliseconds(5), logger: Logger(label: "test"))
        let task = Task { try await sweeper.run() }
        while backend.calls < 3 {
            try await Task.sleep(for: .milliseconds(5))
        }
        task.cancel()
        try await task.value
    }
}

struct SomeError: Error {}
