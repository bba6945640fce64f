import Foundation
import RegistryTestKit
import Testing

/// Authentication as an operator runs it: the policy file, SIGHUP, and registryctl's
/// credentials and admin commands.
extension CLITests {
    /// Runs registryctl against `port` with `token` in its environment.
    func runCtl(_ port: Int, token: String?, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await ChildProcess.run(
            self.ctl, arguments, environment: ["AERO_ARC_REGISTRY_SERVER": "127.0.0.1:\(port)", "AERO_ARC_REGISTRY_TOKEN": token]
        )
    }

    /// A new token and its policy entry, from `registryctl auth hash-token --generate`.
    func newToken(_ arguments: [String]) async throws -> (token: String, entry: String) {
        let result = try await ChildProcess.run(self.ctl, ["auth", "hash-token", "--generate"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        guard let token = result.stderr.split(separator: "\n").first?.split(separator: " ").last else {
            throw ChildProcessError("no token in \(result.stderr)")
        }
        #expect(!result.stdout.contains(token), "the token itself must not be in the policy entry")
        return (String(token), result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("SIGHUP reloads the policy: grants and revocations apply to the next call; a broken file keeps the old one")
    func policyReload() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aero-arc-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let policy = directory.appendingPathComponent("policy.json").path
        let admin = try await self.newToken(["--role", "admin"])
        let reader = try await self.newToken(["--role", "reader"])
        try #"{"tokens": [\#(admin.entry)]}"#.write(toFile: policy, atomically: true, encoding: .utf8)

        let (server, port) = try await self.startServer(["--auth-file", policy])
        defer { server.signal(SIGKILL) }
        #expect(try await self.runCtl(port, token: admin.token, ["relays"]).status == 0)
        let denied = try await self.runCtl(port, token: reader.token, ["relays"])
        #expect(denied.status == 1)
        #expect(denied.stderr.hasPrefix("aero-arc-registryctl: UNAUTHENTICATED: "), "\(denied.stderr)")
        #expect(try await self.runCtl(port, token: nil, ["relays"]).stderr.hasPrefix("aero-arc-registryctl: UNAUTHENTICATED: "))

        // Grant the reader, revoke the admin.
        try #"{"tokens": [\#(reader.entry)]}"#.write(toFile: policy, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        _ = try await server.waitForStandardErrorLine { $0.contains("access policy reloaded") }
        #expect(try await self.runCtl(port, token: reader.token, ["relays"]).status == 0)
        let write = try await self.runCtl(port, token: reader.token, ["register-relay", "relay-1", "--address", "10.0.0.1", "--port", "7000"])
        #expect(write.stderr.hasPrefix("aero-arc-registryctl: PERMISSION_DENIED: role reader"), "\(write.stderr)")
        #expect(try await self.runCtl(port, token: admin.token, ["relays"]).stderr.hasPrefix("aero-arc-registryctl: UNAUTHENTICATED: "))

        // A broken file: logged, and the reader keeps its grant.
        try #"{"tokens": [{"sha256": "nope", "role": "reader"}]}"#.write(toFile: policy, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        let kept = try await server.waitForStandardErrorLine { $0.contains("access policy not reloaded") }
        #expect(kept.contains("tokens[0].sha256"))
        #expect(try await self.runCtl(port, token: reader.token, ["relays"]).status == 0)
        #expect(server.isRunning)
        #expect(!server.standardError.contains(reader.token) && !server.standardError.contains(admin.token))
    }

    @Test("registryctl drains, undrains and deregisters with an admin token; a relay token only for itself")
    func adminCommands() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aero-arc-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let policy = directory.appendingPathComponent("policy.json").path
        let admin = try await self.newToken(["--role", "admin"])
        let relay = try await self.newToken(["--role", "relay", "--relay-id", "relay-1"])
        try #"{"tokens": [\#(admin.entry), \#(relay.entry)]}"#.write(toFile: policy, atomically: true, encoding: .utf8)
        let (server, port) = try await self.startServer(["--auth-file", policy])
        defer { server.signal(SIGKILL) }

        for relayID in ["relay-1", "relay-2"] {
            #expect(try await self.runCtl(port, token: admin.token, ["register-relay", relayID, "--address", "10.0.0.1", "--port", "7000"]).status == 0)
        }
        #expect(try await self.runCtl(port, token: relay.token, ["register-agent", "drone-1", "--relay", "relay-1"]).status == 0)
        let stolen = try await self.runCtl(port, token: relay.token, ["register-agent", "drone-1", "--relay", "relay-2"])
        #expect(stolen.stderr.hasPrefix("aero-arc-registryctl: PERMISSION_DENIED: "), "\(stolen.stderr)")

        #expect(try await self.runCtl(port, token: admin.token, ["drain-relay", "relay-1"]).stdout == "relay relay-1 is draining\n")
        let relays = try await self.runCtl(port, token: admin.token, ["relays"]).stdout
        #expect(relays.contains("relay-1 (draining)"), "\(relays)")
        let json = try await self.runCtl(port, token: admin.token, ["relays", "--output", "json"]).stdout
        let rows = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        #expect(rows?.map { $0["draining"] as? Bool } == [true, false])
        let refused = try await self.runCtl(port, token: relay.token, ["register-agent", "drone-2", "--relay", "relay-1"])
        #expect(refused.stderr.hasPrefix("aero-arc-registryctl: FAILED_PRECONDITION: "), "\(refused.stderr)")
        #expect(try await self.runCtl(port, token: relay.token, ["drain-relay", "relay-1"]).stderr.contains("PERMISSION_DENIED"))
        #expect(try await self.runCtl(port, token: admin.token, ["undrain-relay", "relay-1"]).status == 0)

        let gone = try await self.runCtl(port, token: relay.token, ["deregister-relay", "relay-1"])
        #expect(gone.stdout == "deregistered relay relay-1 and its 1 live agent\n", "\(gone.stderr)")
        #expect(try await self.runCtl(port, token: admin.token, ["agents", "--output", "json"]).stdout.contains("drone-1") == false)
        let missing = try await self.runCtl(port, token: admin.token, ["deregister-agent", "drone-1"])
        #expect(missing.stderr.hasPrefix("aero-arc-registryctl: NOT_FOUND: "), "\(missing.stderr)")
        // One audit line per admin operation, with the caller's digest prefix, never the token.
        #expect(server.standardError.contains("\"operation\":\"deregister_relay\""))
        #expect(!server.standardError.contains(relay.token))
    }

    @Test("a policy file that cannot be used stops the server with one line")
    func badPolicyFile() async throws {
        let missing = try await ChildProcess.run(self.server, ["--auth-file", "/nonexistent/policy.json"])
        #expect(missing.status == 64)
        #expect(missing.stderr.hasPrefix("aero-arc-registry: invalid --auth-file: "), "\(missing.stderr)")
        #expect(missing.stderr.split(separator: "\n").count == 1)
    }
}
