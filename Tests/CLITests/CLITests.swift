import Foundation
import RegistryTestKit
import Testing

/// The built executables, run as an operator runs them.
@Suite("Command-line tools")
struct CLITests {
    let server = try! BuiltProducts.executable("aero-arc-registry")
    let ctl = try! BuiltProducts.executable("aero-arc-registryctl")

    /// Starts the server on a free loopback port and returns it with its port.
    func startServer(_ extra: [String] = [], environment: [String: String?] = [:]) async throws -> (ChildProcess, Int) {
        let process = try ChildProcess(
            self.server,
            ["--grpc-listen-address", "127.0.0.1", "--grpc-listen-port", "0", "--log-format", "json"] + extra,
            environment: environment
        )
        let line = try await process.waitForStandardErrorLine { $0.contains("\"aero-arc-registry listening\"") }
        let fields = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        guard let port = (fields?["port"] as? String).flatMap(Int.init) else {
            throw ChildProcessError("no port in \(line)")
        }
        return (process, port)
    }

    func runCtl(_ port: Int, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await ChildProcess.run(self.ctl, arguments, environment: ["AERO_ARC_REGISTRY_SERVER": "127.0.0.1:\(port)"])
    }

    @Test("an operator session: register, heartbeat, list, look up; then SIGTERM stops the server cleanly")
    func session() async throws {
        let (server, port) = try await self.startServer(["-relay-ttl", "45s"])
        #expect(server.standardError.contains("\"relay_ttl\":\"45s\""))

        var result = try await self.runCtl(port, ["register-relay", "relay-1", "--address", "10.0.0.1", "--port", "7000"])
        #expect(result.status == 0)
        #expect(result.stdout == "registered relay relay-1\n")
        result = try await self.runCtl(port, ["heartbeat-relay", "relay-1"])
        #expect(result.status == 0)
        result = try await self.runCtl(port, ["register-agent", "drone-7", "--relay", "relay-1"])
        #expect(result.status == 0)
        result = try await self.runCtl(port, ["heartbeat-agent", "drone-7", "--relay", "relay-1"])
        #expect(result.status == 0)

        result = try await self.runCtl(port, ["relays"])
        let relayLines = result.stdout.split(separator: "\n")
        #expect(relayLines.first?.hasPrefix("RELAY") == true)
        #expect(relayLines.contains { $0.hasPrefix("relay-1") && $0.contains("10.0.0.1:7000") && $0.contains("s ago") })
        #expect(relayLines.last == "1 live relay")
        // The agent count comes from the fleet service's ListRelayStatuses.
        #expect(relayLines.first?.contains("AGENTS") == true)
        #expect(relayLines.contains { $0.hasPrefix("relay-1") && $0.contains("10.0.0.1:7000  1  ") })

        result = try await self.runCtl(port, ["agents", "--output", "json"])
        let agents = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        #expect(agents?.count == 1)
        #expect(agents?.first?["agent_id"] as? String == "drone-7")
        #expect(agents?.first?["relay_id"] as? String == "relay-1")
        let last = agents?.first?["last_heartbeat_unix_ms"] as? Int64
        let expires = agents?.first?["expires_unix_ms"] as? Int64
        #expect(last.map { $0 + 30_000 } == expires)

        result = try await self.runCtl(port, ["agents", "--relay", "relay-2"])
        #expect(result.stdout.hasSuffix("0 live agents\n"))

        result = try await self.runCtl(port, ["placement", "drone-7"])
        #expect(result.stdout.contains("drone-7  relay-1"))

        result = try await self.runCtl(port, ["placements", "drone-7", "ghost"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("drone-7  relay-1"))
        #expect(result.stdout.contains("ghost    -        -"))
        #expect(result.stdout.hasSuffix("1 live, 1 not live\n"))

        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        #expect(server.standardError.contains("aero-arc-registry stopped"))
    }

    @Test("registry errors are one line on stderr and a non-zero exit")
    func errors() async throws {
        let (server, port) = try await self.startServer()
        defer { server.signal(SIGKILL) }
        var result = try await self.runCtl(port, ["heartbeat-relay", "ghost"])
        #expect(result.status == 1)
        #expect(result.stderr == "aero-arc-registryctl: NOT_FOUND: relay ghost is not registered or has expired; register it again\n")
        result = try await self.runCtl(port, ["register-relay", "r", "--address", "a b", "--port", "1"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("aero-arc-registryctl: INVALID_ARGUMENT: relay.address "))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("an unreachable server is one clear line and exit 1")
    func unreachable() async throws {
        let result = try await ChildProcess.run(self.ctl, ["relays", "--server", "127.0.0.1:1", "--timeout", "3s"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("aero-arc-registryctl: cannot reach the registry at 127.0.0.1:1"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("bad server configuration exits 64 with one line naming the problem", arguments: [
        (["--relay-ttl", "5x"], [:], "aero-arc-registry: invalid --relay-ttl '5x'"),
        (["--no-such-flag"], [:], "aero-arc-registry: Unknown option '--no-such-flag'"),
        ([], ["AERO_ARC_REGISTRY_AGENT_TTL": "100h"], "aero-arc-registry: invalid AERO_ARC_REGISTRY_AGENT_TTL '100h'"),
        (["--tls-enabled", "--tls-cert-path", "/nonexistent.pem"], [:], "aero-arc-registry: --tls-enabled needs --tls-key-path"),
    ] as [([String], [String: String], String)])
    func badConfiguration(_ arguments: [String], _ environment: [String: String], _ expected: String) async throws {
        let result = try await ChildProcess.run(self.server, arguments, environment: environment)
        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix(expected), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("a port already in use fails startup with exit 1 and says so")
    func portInUse() async throws {
        let (first, port) = try await self.startServer()
        defer { first.signal(SIGKILL) }
        let result = try await ChildProcess.run(self.server, ["--grpc-listen-address", "127.0.0.1", "--grpc-listen-port", "\(port)"])
        #expect(result.status == 1)
        #expect(result.stderr.lowercased().contains("address already in use"), "\(result.stderr)")
    }
}

extension CLITests {
    @Test("a registry whose store is down is told apart from an unreachable registry")
    func storeDown() async throws {
        // Nothing listens on port 1: the Consul backend's store is down, the registry is up.
        let (server, port) = try await self.startServer(["--backend", "consul", "--consul-address", "http://127.0.0.1:1", "--consul-timeout", "500ms"])
        defer { server.signal(SIGKILL) }
        let result = try await self.runCtl(port, ["relays"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("aero-arc-registryctl: the registry at 127.0.0.1:\(port) is up but unavailable: "), "\(result.stderr)")
        #expect(result.stderr.contains("127.0.0.1:1"))
    }

    @Test("status shows the backend, limits and the counted fleet, as a table and as JSON")
    func status() async throws {
        let (server, port) = try await self.startServer(["--max-relays", "42"])
        defer { server.signal(SIGKILL) }
        let table = try await self.runCtl(port, ["status"])
        #expect(table.status == 0)
        #expect(table.stdout.hasPrefix("FIELD"))
        #expect(table.stdout.contains("store         memory, up"))
        #expect(table.stdout.contains("limits        42 relays, 1000000 agents"))
        let json = try await self.runCtl(port, ["status", "--output", "json"])
        let fields = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(fields?["max_relays"] as? Int == 42)
        #expect((fields?["store"] as? [String: Any])?["backend"] as? String == "memory")
        #expect(fields?["version"] as? String != nil)
    }
}
