import Foundation
import RegistryTestKit
import Testing

/// The memory backend's outage is a stall of the registry process itself: SIGSTOP the
/// real executable for longer than the TTLs, as a paused VM would be, and look at what
/// the fleet sees after SIGCONT. The stall is the fault under test, so it takes real time.
@Suite("A stalled registry process (memory backend)")
struct ProcessStallTests {
    let cli = CLITests()

    /// Registers relay-1 with drone-7 (3 s TTLs: each registryctl run can take a second on a
    /// loaded machine), stalls the server for 4.5 s, and returns the exit statuses of
    /// heartbeating both right after the resume.
    func heartbeatsAfterStall(graceMax: String) async throws -> [Int32] {
        let (server, port) = try await self.cli.startServer(["--relay-ttl", "3s", "--agent-ttl", "3s", "--outage-grace-max", graceMax])
        defer { server.signal(SIGKILL) }
        #expect(try await self.cli.runCtl(port, ["register-relay", "relay-1", "--address", "10.0.0.1", "--port", "7000"]).status == 0)
        #expect(try await self.cli.runCtl(port, ["register-agent", "drone-7", "--relay", "relay-1"]).status == 0)
        // Let the ticker run before the stall, so that the gap is seen as one.
        try await Task.sleep(for: .milliseconds(300))
        server.signal(SIGSTOP)
        try await Task.sleep(for: .milliseconds(4_500))
        server.signal(SIGCONT)
        return [
            try await self.cli.runCtl(port, ["heartbeat-relay", "relay-1"]).status,
            try await self.cli.runCtl(port, ["heartbeat-agent", "drone-7", "--relay", "relay-1"]).status,
        ]
    }

    @Test("after a stall longer than the TTLs, relays and agents that were live are still live (outage grace)")
    func stallWithGrace() async throws {
        #expect(try await self.heartbeatsAfterStall(graceMax: "10s") == [0, 0])
    }

    @Test("with --outage-grace-max 0 the same stall expires them: the test above can fail")
    func stallWithoutGrace() async throws {
        #expect(try await self.heartbeatsAfterStall(graceMax: "0").allSatisfy { $0 != 0 })
    }
}
