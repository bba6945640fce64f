public import GRPCCore
public import GRPCNIOTransportHTTP2
public import RegistryClient
import RegistryProtos

/// Connections to the registry under test and to the noop baseline server.
public struct BenchTarget: Sendable {
    public let registryClients: [GRPCClient<HTTP2ClientTransport.Posix>]
    public let noopClients: [GRPCClient<HTTP2ClientTransport.Posix>]

    /// The registry stub on connection `index % connections`.
    func registry(_ index: Int) -> Aeroarc_Registry_V1_AeroRegistry.Client<HTTP2ClientTransport.Posix> {
        Aeroarc_Registry_V1_AeroRegistry.Client(wrapping: self.registryClients[index % self.registryClients.count])
    }

    /// The fleet-extension stub on connection `index % connections`.
    func fleet(_ index: Int) -> Aeroarc_Registry_Fleet_V1_FleetRegistry.Client<HTTP2ClientTransport.Posix> {
        Aeroarc_Registry_Fleet_V1_FleetRegistry.Client(wrapping: self.registryClients[index % self.registryClients.count])
    }

    func noop(_ index: Int) -> GRPCClient<HTTP2ClientTransport.Posix> {
        self.noopClients[index % self.noopClients.count]
    }
}

/// Opens `connections` clients to each address, runs `body`, and closes them. The
/// registry's connections use its target's TLS and token, if any.
public func withBenchTarget<Result: Sendable>(
    registry: ServerTarget,
    noop: (host: String, port: Int)?,
    connections: Int,
    _ body: (BenchTarget) async throws -> Result
) async throws -> Result {
    let registryClients = try (0..<connections).map { _ in
        GRPCClient(
            transport: try registry.makeTransport(),
            interceptors: registry.token.map { [BearerTokenInterceptor(token: $0)] } ?? []
        )
    }
    let noopClients = try noop.map { address in
        try (0..<connections).map { _ in
            GRPCClient(
                transport: try HTTP2ClientTransport.Posix(target: .dns(host: address.host, port: address.port), transportSecurity: .plaintext)
            )
        }
    } ?? []
    return try await withThrowingTaskGroup(of: Void.self) { group in
        for client in registryClients + noopClients {
            group.addTask { try await client.runConnections() }
        }
        defer {
            for client in registryClients + noopClients {
                client.beginGracefulShutdown()
            }
        }
        return try await body(BenchTarget(registryClients: registryClients, noopClients: noopClients))
    }
}
