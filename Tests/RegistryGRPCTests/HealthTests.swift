import SwiftProtobuf
import GRPCCore
import RegistryCore
import RegistryProtos
import RegistryServer
import Testing

@Suite("Health service")
struct HealthTests {
    @Test("Check reports SERVING for the server and the registry service, NOT_FOUND otherwise")
    func check() async throws {
        try await withRunningRegistry { server in
            let health = Grpc_Health_V1_Health.Client(wrapping: server.grpc)
            let server = try await health.check(.with { $0.service = "" })
            let registry = try await health.check(.with { $0.service = "aeroarc.registry.v1.AeroRegistry" })
            #expect(server.status == .serving)
            #expect(registry.status == .serving)
            await expectRPCError(.notFound) { try await health.check(.with { $0.service = "no.such.Service" }) }
        }
    }

    @Test("a backend losing its store turns health NOT_SERVING, and back")
    func followsBackend() async throws {
        let backend = FaultyBackend()
        try await withRunningRegistry(backend: backend) { server in
            let health = Grpc_Health_V1_Health.Client(wrapping: server.grpc)
            backend.health.report(.notServing(reason: "store unreachable"))
            try await eventually { try await health.check(.init()).status == .notServing }
            backend.health.report(.serving)
            try await eventually { try await health.check(.init()).status == .serving }
        }
    }

    @Test("Watch streams changes and ends with NOT_SERVING at shutdown")
    func watch() async throws {
        let backend = FaultyBackend()
        try await withRunningRegistry(backend: backend) { server in
            let health = Grpc_Health_V1_Health.Client(wrapping: server.grpc)
            let statuses = try await withThrowingTaskGroup(of: [Grpc_Health_V1_HealthCheckResponse.ServingStatus].self) { group in
                group.addTask {
                    try await health.watch(.with { $0.service = "aeroarc.registry.v1.AeroRegistry" }) { response in
                        var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
                        for try await message in response.messages {
                            seen.append(message.status)
                            if seen.count == 1 {
                                backend.health.report(.notServing(reason: "store unreachable"))
                            } else if seen.count == 2 {
                                backend.health.report(.serving)
                            } else if seen.count == 3 {
                                Task { await server.application.triggerGracefulShutdown() }
                            }
                        }
                        return seen
                    }
                }
                return try await group.next() ?? []
            }
            #expect(statuses == [.serving, .notServing, .serving, .notServing])
        }
    }

    @Test("Watch of an unknown service says SERVICE_UNKNOWN")
    func watchUnknown() async throws {
        try await withRunningRegistry { server in
            let health = Grpc_Health_V1_Health.Client(wrapping: server.grpc)
            let first = try await health.watch(.with { $0.service = "no.such.Service" }) { response -> Grpc_Health_V1_HealthCheckResponse.ServingStatus? in
                for try await message in response.messages {
                    return message.status
                }
                return nil
            }
            #expect(first == .serviceUnknown)
        }
    }
}

/// Polls `condition` until it holds (a state change crossing tasks, not a TTL).
func eventually(
    timeout: Duration = .seconds(5),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition did not hold within \(timeout)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}
