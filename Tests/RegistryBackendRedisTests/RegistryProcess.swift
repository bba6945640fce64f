import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RegistryClient
import RegistryProtos
import RegistryTestKit

/// The real `aero-arc-registry` executable on the redis backend, on a free loopback port.
struct RegistryProcess {
    let process: ChildProcess
    let port: Int

    /// Starts the server with `--backend redis` against `redisPort` and waits until it listens.
    static func start(redisPort: Int, keyPrefix: String, _ extra: [String] = []) async throws -> RegistryProcess {
        let process = try ChildProcess(
            try BuiltProducts.executable("aero-arc-registry"),
            [
                "--grpc-listen-address", "127.0.0.1", "--grpc-listen-port", "0", "--log-format", "json",
                "--backend", "redis", "--redis-addr", "127.0.0.1", "--redis-port", "\(redisPort)",
                "--redis-key-prefix", keyPrefix,
            ] + extra
        )
        let line = try await process.waitForStandardErrorLine(timeout: .seconds(30)) { $0.contains("\"aero-arc-registry listening\"") }
        let fields = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        guard let port = (fields?["port"] as? String).flatMap(Int.init) else {
            process.signal(SIGKILL)
            throw ChildProcessError("no port in \(line)")
        }
        return RegistryProcess(process: process, port: port)
    }

    /// Runs `body` with a registry client and a health client connected to this server.
    func withClients<Result: Sendable>(
        timeout: Duration = .seconds(10),
        _ body: (RegistryClient, Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: self.port), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { grpc in
            try await body(RegistryClient(wrapping: grpc, timeout: timeout), Grpc_Health_V1_Health.Client(wrapping: grpc))
        }
    }

    /// Stops the server with SIGTERM and checks it exits cleanly.
    func stop() async throws -> Int32 {
        self.process.signal(SIGTERM)
        return try await self.process.waitForExit(timeout: .seconds(15))
    }
}

extension Grpc_Health_V1_Health.Client where Transport == HTTP2ClientTransport.Posix {
    /// The server's overall status.
    /// The status of `service`: "" for the server as a whole.
    func status(_ service: String = "") async throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = service
        return try await self.check(request).status
    }
}

/// Polls `condition` until it holds, failing after `timeout`.
func eventually(
    timeout: Duration = .seconds(10),
    _ what: String,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true {
            return
        }
        try await Task.sleep(for: .milliseconds(25))
    }
    throw ChildProcessError("\(what) did not happen within \(timeout)")
}

/// The recovery every relay runs against the registry: heartbeat, and register again on
/// NOT_FOUND; the same for each of its agents.
func heartbeatOrRegister(_ client: RegistryClient, fleet: [String: [String]]) async throws {
    for (relay, agents) in fleet {
        do {
            try await client.heartbeatRelay(id: relay)
        } catch let error as RPCError where error.code == .notFound {
            try await client.registerRelay(id: relay, address: "10.0.0.1", grpcPort: 7000)
        }
        for agent in agents {
            do {
                try await client.heartbeatAgent(id: agent, relayID: relay)
            } catch let error as RPCError where error.code == .notFound {
                try await client.registerAgent(id: agent, relayID: relay)
            }
        }
    }
}
