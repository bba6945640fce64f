import Foundation
import RegistryTestKit
import Testing

/// The registry as API servers written in Python (or C++, Ruby, PHP: every client on gRPC's
/// C-core) use it: `Tests/Interop/grpcio_burst.py`, run with the grpcio that scripts/test
/// installs, starts every call of a burst at once on one channel, which C-core does before
/// it has read the server's SETTINGS.
@Suite("grpcio (C-core) clients", .serialized)
struct GRPCIOInteropTests {
    @Test("1,000 concurrent calls on one grpcio channel all succeed", arguments: TestBackends.forBursts)
    func thousandConcurrentCalls(backend: TestBackend) async throws {
        let report = try await self.runBurst(on: backend, relays: 1000, agents: 1000)
        #expect(report.status == 0, "\(report.output)")
    }

    @Test("a fleet of 10 relays x 30 agents registering all at once from one process sees no error", arguments: TestBackends.all)
    func fleetStartUp(backend: TestBackend) async throws {
        let report = try await self.runBurst(on: backend, relays: 10, agents: 300)
        #expect(report.status == 0, "\(report.output)")
    }

    @Test("the same fleet restart through SyncRelay: 10 calls of 30 placements, no error", arguments: TestBackends.all + TestBackends.etcdWithShortTimeout)
    func fleetRestartThroughSync(backend: TestBackend) async throws {
        let report = try await self.runBurst(on: backend, relays: 10, agents: 300, sync: true)
        #expect(report.status == 0, "\(report.output)")
    }

    /// Serves `backend` and runs the script against it; returns its exit status and output.
    private func runBurst(on backend: TestBackend, relays: Int, agents: Int, sync: Bool = false) async throws -> (status: Int32, output: String) {
        let (python, scripts) = try TestPrograms.interopPython()
        return try await withRunningRegistry(harness: try await backend.makeHarness()) { registry in
            let result = try await ChildProcess.run(
                python,
                [
                    scripts.appendingPathComponent("grpcio_burst.py").path,
                    "--target", "127.0.0.1:\(registry.port)",
                    "--relays", "\(relays)", "--agents", "\(agents)",
                    "--prefix", "burst-\(UUID().uuidString.prefix(8))",
                ] + (sync ? ["--sync"] : []),
                timeout: .seconds(120)
            )
            return (result.status, result.stdout + result.stderr)
        }
    }
}
