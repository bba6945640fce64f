import SwiftProtobuf
import GRPCCore
import GRPCNIOTransportHTTP2
import RegistryClient
import RegistryCore
import RegistryProtos
import RegistryServer
import RegistryTestKit
import Testing

@Suite("Errors and shutdown")
struct ServerBehaviourTests {
    @Test("storage failures are UNAVAILABLE with the backend's message")
    func unavailable() async throws {
        let backend = FaultyBackend()
        try await withRunningRegistry(backend: backend) { server in
            backend.inject(.fail(RegistryError.unavailable("redis at 10.0.0.9:6379 did not answer within 2s")))
            let error = await expectRPCError(.unavailable) { try await server.client.listRelays() }
            #expect(error?.message == "redis at 10.0.0.9:6379 did not answer within 2s")
            backend.inject(.none)
            _ = try await server.client.listRelays()
        }
    }

    @Test("an error outside the contract is INTERNAL with a generic message")
    func unexpectedError() async throws {
        let backend = FaultyBackend()
        try await withRunningRegistry(backend: backend) { server in
            backend.inject(.fail(UnexpectedBackendError()))
            let error = await expectRPCError(.internalError) { try await server.client.heartbeatRelay(id: "r") }
            #expect(error?.message == "internal error")
            #expect(error?.message.contains("secret") == false)
        }
    }

    @Test("the caller's deadline is honoured while the backend is slow")
    func deadline() async throws {
        let backend = FaultyBackend()
        try await withRunningRegistry(backend: backend) { server in
            backend.inject(.hold)
            let client = RegistryClient(wrapping: server.grpc, timeout: .milliseconds(200))
            await expectRPCError(.deadlineExceeded) { try await client.listRelays() }
            backend.release()
            _ = try await server.client.listRelays()
        }
    }

    @Test("graceful shutdown lets in-flight calls finish and then stops the server")
    func drainsInFlightCalls() async throws {
        let backend = FaultyBackend()
        let port = try await withRunningRegistry(backend: backend) { server in
            backend.inject(.hold)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Started before shutdown, answered after it began.
                    try await server.client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)
                }
                while backend.heldCalls == 0 {
                    try await Task.sleep(for: .milliseconds(5))
                }
                let shutdown = Task { await server.application.triggerGracefulShutdown() }
                try await Task.sleep(for: .milliseconds(100))
                backend.release()
                try await group.waitForAll()
                await shutdown.value
            }
            return server.port
        }
        // Once the server has stopped, its port refuses new calls.
        let fresh = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: port),
            transportSecurity: .plaintext
        )
        _ = try await withGRPCClient(transport: fresh) { grpc in
            await expectRPCError(.unavailable) { try await RegistryClient(wrapping: grpc, timeout: .seconds(5)).listRelays() }
        }
    }
}
