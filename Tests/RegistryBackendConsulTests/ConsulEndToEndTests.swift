import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import RegistryBackendConsul
import RegistryClient
import RegistryCore
import RegistryProtos
import RegistryServer
import RegistryTestKit
import Testing

/// The registry served for real over gRPC on the Consul backend, with Consul acted out by
/// the double: what clients see when Consul fails and comes back.
@Suite("Consul backend end to end")
struct ConsulEndToEndTests {
    @Test("while Consul is down calls are UNAVAILABLE naming Consul and health is NOT_SERVING; both recover by themselves")
    func outageOverGRPC() async throws {
        try await ConsulDouble.with { double in
            var configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address), timeout: .seconds(1))
            configuration.healthProbeInterval = .milliseconds(50)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let backend = try ConsulBackend(configuration: configuration, ttl: .default, clock: ManualClock(), logger: logger)
            var server = ServerConfiguration()
            server.listenAddress = "127.0.0.1"
            server.listenPort = 0
            server.shutdownTimeout = .seconds(5)
            let application = try RegistryApplication(configuration: server, backend: backend, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await application.run() }
                let port = try await application.listeningPort()
                let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
                try await withGRPCClient(transport: transport) { grpc in
                    let client = RegistryClient(wrapping: grpc)
                    let health = Grpc_Health_V1_Health.Client(wrapping: grpc)
                    try await eventually { try await health.check(.init()).status == .serving }
                    try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)

                    for fault in [ConsulDouble.Fault.refuseConnections, .stall, .status(500), .status(429)] {
                        try await double.inject(fault)
                        do {
                            _ = try await client.listRelays()
                            Issue.record("listing succeeded during \(fault)")
                        } catch let error as RPCError {
                            #expect(error.code == .unavailable, "\(fault): \(error)")
                            #expect(error.message.contains(double.address), "\(fault): \(error.message)")
                        }
                        try await eventually { try await health.check(.init()).status == .notServing }
                        try await double.inject(nil)
                        try await eventually { try await health.check(.init()).status == .serving }
                        #expect(try await client.listRelays().entries.map(\.id.rawValue) == ["relay-1"])
                    }
                }
                await application.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("the server executable runs with --backend consul; ctl sees Consul's failures as UNAVAILABLE")
    func serverProcess() async throws {
        let serverExecutable = try BuiltProducts.executable("aero-arc-registry")
        let ctl = try BuiltProducts.executable("aero-arc-registryctl")
        try await ConsulDouble.with { double in
            let server = try ChildProcess(
                serverExecutable,
                [
                    "--backend", "consul", "--consul-address", double.address, "--consul-timeout", "1s",
                    "--consul-key-prefix", "e2e/", "--grpc-listen-address", "127.0.0.1", "--grpc-listen-port", "0", "--log-format", "json",
                ],
                environment: ["CONSUL_HTTP_TOKEN": nil, "AERO_ARC_REGISTRY_CONSUL_TOKEN": nil]
            )
            defer { server.signal(SIGKILL) }
            let line = try await server.waitForStandardErrorLine { $0.contains("\"aero-arc-registry listening\"") }
            let fields = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let portText = fields?["port"] as? String
            let port = try #require(portText.flatMap { Int($0) })
            #expect(fields?["backend"] as? String == "consul")
            func runCtl(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
                try await ChildProcess.run(ctl, arguments, environment: ["AERO_ARC_REGISTRY_SERVER": "127.0.0.1:\(port)"])
            }

            var result = try await runCtl(["register-relay", "relay-1", "--address", "10.0.0.1", "--port", "7000"])
            #expect(result.status == 0, "\(result.stderr)")
            result = try await runCtl(["register-agent", "drone-7", "--relay", "relay-1"])
            #expect(result.status == 0, "\(result.stderr)")
            result = try await runCtl(["placement", "drone-7"])
            #expect(result.stdout.contains("drone-7  relay-1"))
            #expect(double.store.entries.keys.contains("e2e/agent/ZHJvbmUtNw"))

            try await double.inject(.status(500))
            result = try await runCtl(["relays"])
            #expect(result.status == 1)
            // The registry is up; its store is not: the CLI says so, with the server's message.
            #expect(result.stderr.contains("is up but unavailable"), "\(result.stderr)")
            #expect(result.stderr.contains("500"), "\(result.stderr)")
            #expect(result.stderr.contains(double.address), "\(result.stderr)")
            try await double.inject(nil)
            result = try await runCtl(["relays"])
            #expect(result.status == 0)
            #expect(result.stdout.contains("1 live relay"))

            server.signal(SIGTERM)
            #expect(try await server.waitForExit() == 0)
        }
    }
}
