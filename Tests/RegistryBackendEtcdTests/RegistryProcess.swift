import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RegistryClient
import RegistryProtos
import RegistryTestKit

/// The real `aero-arc-registry` executable on a free loopback port, and clients of it.
struct RegistryProcess {
    let process: ChildProcess
    let port: Int

    /// Starts the server with `arguments` added and waits until it listens.
    static func start(_ arguments: [String], environment: [String: String?] = [:]) async throws -> RegistryProcess {
        let process = try ChildProcess(
            try BuiltProducts.executable("aero-arc-registry"),
            ["--grpc-listen-address", "127.0.0.1", "--grpc-listen-port", "0", "--log-format", "json"] + arguments,
            environment: environment
        )
        let line = try await process.waitForStandardErrorLine { $0.contains("\"aero-arc-registry listening\"") }
        let fields = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        guard let port = (fields?["port"] as? String).flatMap(Int.init) else {
            process.signal(SIGKILL)
            throw ChildProcessError("no port in \(line)")
        }
        return RegistryProcess(process: process, port: port)
    }

    /// Runs `body` with a typed client (calls time out after `timeout`) and a health client.
    func withClients<Result: Sendable>(
        timeout: Duration = .seconds(10),
        _ body: (RegistryClient, Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: self.port), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { grpc in
            try await body(RegistryClient(wrapping: grpc, timeout: timeout), Grpc_Health_V1_Health.Client(wrapping: grpc))
        }
    }

    /// Stops the server with SIGTERM, as an operator would, and expects a clean exit.
    func stop() async throws {
        self.process.signal(SIGTERM)
        let status = try await self.process.waitForExit(timeout: .seconds(20))
        guard status == 0 else {
            throw ChildProcessError("the registry exited with \(status):\n\(self.process.standardError)")
        }
    }
}

/// The health service name of the registry's store.
let storeService = "aeroarc.registry.v1.AeroRegistry.store"

extension Grpc_Health_V1_Health.Client where Transport == HTTP2ClientTransport.Posix {
    /// Whether `service` reports SERVING: by default the whole server; the store's own
    /// service (``storeService``) follows etcd even while stale reads keep the server SERVING.
    func isServing(_ service: String = "") async -> Bool {
        var options = CallOptions.defaults
        options.timeout = .seconds(2)
        let response = try? await self.check(.with { $0.service = service }, options: options)
        return response?.status == .serving
    }
}
