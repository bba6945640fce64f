import SwiftProtobuf
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import RegistryBackendMemory
import RegistryClient
import RegistryCore
import RegistryProtos
import RegistryServer
import RegistryTestKit

/// A registry served for real on an ephemeral loopback port, and a connected client.
struct RunningRegistry: Sendable {
    let application: RegistryApplication
    let port: Int
    let grpc: GRPCClient<HTTP2ClientTransport.Posix>

    /// The generated client of the registry service.
    var registry: Aeroarc_Registry_V1_AeroRegistry.Client<HTTP2ClientTransport.Posix> {
        Aeroarc_Registry_V1_AeroRegistry.Client(wrapping: self.grpc)
    }

    /// The typed client.
    var client: RegistryClient {
        RegistryClient(wrapping: self.grpc)
    }
}

/// Serves `backend` on 127.0.0.1:0, runs `body` with a client, then shuts the server down
/// gracefully and checks that it stopped.
func withRunningRegistry<Result: Sendable>(
    backend: any RegistryBackend,
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (RunningRegistry) async throws -> Result
) async throws -> Result {
    var configuration = ServerConfiguration()
    configuration.listenAddress = "127.0.0.1"
    configuration.listenPort = 0
    configuration.ttl = backend.ttl
    configuration.shutdownTimeout = .seconds(5)
    configure(&configuration)
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    let application = try RegistryApplication(configuration: configuration, backend: backend, logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await application.run() }
        let port = try await application.listeningPort()
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        let result = try await withGRPCClient(transport: transport) { grpc in
            try await body(RunningRegistry(application: application, port: port, grpc: grpc))
        }
        await application.triggerGracefulShutdown()
        try await group.waitForAll()
        return result
    }
}

/// Serves a fresh backend from `harness` (by default memory on a manual clock).
func withRunningRegistry<Result: Sendable>(
    harness: any BackendHarness = MemoryHarness(),
    ttl: TTLPolicy = .default,
    limits: CapacityLimits = CapacityLimits(),
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (RunningRegistry) async throws -> Result
) async throws -> Result {
    try await harness.withBackend(ttl: ttl, limits: limits) { backend in
        try await withRunningRegistry(backend: backend, configure: configure, body)
    }
}

/// Expects `body` to fail with an RPC error of `code` and returns it.
@discardableResult
func expectRPCError<T>(
    _ code: RPCError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async -> RPCError? {
    do {
        let value = try await body()
        Issue.record("expected \(code), got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as RPCError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected an RPCError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

import Testing
