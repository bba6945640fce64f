import Foundation
import GRPCCore
import RegistryClient
import RegistryTestKit
import Synchronization
import Testing

/// The registry executable on etcd clusters: losing members, losing quorum, coming back;
/// several replicas sharing one etcd.
@Suite("etcd backend in a real deployment")
struct EtcdClusterTests {
    /// Heartbeats sent by a background loop, and the failures it saw.
    final class HeartbeatLog: Sendable {
        let state = Mutex<(succeeded: Int, failures: [String])>((0, []))
        let stopped = Mutex(false)

        func record(_ error: (any Error)?) {
            self.state.withLock { state in
                if let error {
                    state.failures.append("\(error)")
                } else {
                    state.succeeded += 1
                }
            }
        }

        var snapshot: (succeeded: Int, failures: [String]) { self.state.withLock { $0 } }
    }

    /// Polls `condition` every 100 ms until it holds or `timeout` passes.
    func eventually(within timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    @Test("a three-member cluster: one member lost is invisible, quorum lost is UNAVAILABLE, and service comes back by itself")
    func threeMemberCluster() async throws {
        let cluster = try await EtcdFixture.start(members: 3)
        var registry: RegistryProcess?
        do {
            // The leader first, so that stopping it costs both a failover and an election.
            let leader = try await cluster.leader()
            let order = [leader] + cluster.members.indices.filter { $0 != leader }
            let server = try await RegistryProcess.start([
                "--backend", "etcd",
                "--etcd-endpoints", order.map { "http://\(cluster.members[$0].endpoint)" }.joined(separator: ","),
                "--etcd-timeout", "3s",
                "--relay-ttl", "60s", "--agent-ttl", "60s",
            ])
            registry = server
            try await server.withClients { client, health in
                #expect(try await self.eventually(within: .seconds(10)) { await health.isServing() })
                try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)
                try await client.registerAgent(id: "drone-1", relayID: "relay-1")

                // Heartbeats keep flowing while the leader is killed.
                let log = HeartbeatLog()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        while !log.stopped.withLock({ $0 }) {
                            do {
                                try await client.heartbeatRelay(id: "relay-1")
                                try await client.heartbeatAgent(id: "drone-1", relayID: "relay-1")
                                log.record(nil)
                            } catch {
                                log.record(error)
                            }
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                    // Kill the leader once heartbeats flow, then keep going through the
                    // election for at least 3s and 20 more heartbeats.
                    #expect(try await self.eventually(within: .seconds(20)) { log.snapshot.succeeded >= 5 })
                    let beforeKill = log.snapshot.succeeded
                    try await cluster.stop(member: leader)
                    let killedAt = ContinuousClock.now
                    _ = try await self.eventually(within: .seconds(30)) {
                        ContinuousClock.now - killedAt > .seconds(3) && log.snapshot.succeeded - beforeKill >= 20
                    }
                    log.stopped.withLock { $0 = true }
                    try await group.waitForAll()
                    let result = log.snapshot
                    #expect(result.failures.isEmpty, "failed heartbeats: \(result.failures)")
                    #expect(result.succeeded - beforeKill >= 20, "heartbeats after the leader stopped: \(result.succeeded - beforeKill)")
                }
                #expect(await health.isServing())

                // A second member down: no quorum. Calls fail UNAVAILABLE within the etcd timeout.
                let second = order[1]
                try await cluster.stop(member: second)
                let started = ContinuousClock.now
                do {
                    try await client.heartbeatRelay(id: "relay-1")
                    Issue.record("a heartbeat succeeded without a quorum")
                } catch let error as RPCError {
                    #expect(error.code == .unavailable, "\(error)")
                    #expect(error.message.contains("etcd"), "\(error)")
                }
                #expect(ContinuousClock.now - started < .seconds(5), "UNAVAILABLE took \(ContinuousClock.now - started)")
                #expect(try await self.eventually(within: .seconds(8)) { !(await health.isServing(storeService)) })
                #expect(await health.isServing(), "placement reads are still answered: the server stays SERVING")

                // Both back: the same registry process serves again, state intact.
                try await cluster.start(members: [leader, second])
                #expect(try await self.eventually(within: .seconds(15)) { await health.isServing(storeService) })
                try await client.heartbeatRelay(id: "relay-1")
                try await client.heartbeatAgent(id: "drone-1", relayID: "relay-1")
                #expect(try await client.placement(of: "drone-1").placement.relayID.rawValue == "relay-1")
            }
            try await server.stop()
        } catch {
            if let registry { registry.process.signal(SIGKILL) }
            await cluster.stop()
            throw error
        }
        await cluster.stop()
        #expect(!FileManager.default.fileExists(atPath: cluster.directory.path), "the data directory is removed")
        #expect(cluster.members.indices.allSatisfy { !cluster.isRunning(member: $0) })
    }

    @Test("two registry processes on one etcd see the same relays, agents and moves")
    func twoReplicas() async throws {
        let etcd = try await SharedEtcd.instance.fixture()
        let arguments = [
            "--backend", "etcd",
            "--etcd-endpoints", etcd.endpoints.joined(separator: ","),
            "--etcd-key-prefix", "/aero-arc-replicas-\(UUID().uuidString)/",
        ]
        let first = try await RegistryProcess.start(arguments)
        let second: RegistryProcess
        do {
            second = try await RegistryProcess.start(arguments)
        } catch {
            first.process.signal(SIGKILL)
            throw error
        }
        do {
            try await first.withClients { a, _ in
                try await second.withClients { b, _ in
                    try await a.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
                    try await b.registerRelay(id: "relay-b", address: "10.0.0.2", grpcPort: 7001)
                    #expect(try await b.listRelays().entries.map(\.id.rawValue) == ["relay-a", "relay-b"])
                    #expect(try await a.listRelays().entries.map(\.endpoint.grpcPort) == [7000, 7001])

                    try await b.registerAgent(id: "drone-1", relayID: "relay-a")
                    #expect(try await a.placement(of: "drone-1").placement.relayID.rawValue == "relay-a")
                    try await a.heartbeatAgent(id: "drone-1", relayID: "relay-a")

                    // A move made through one replica is what the other reports.
                    try await a.registerAgent(id: "drone-1", relayID: "relay-b")
                    #expect(try await b.placement(of: "drone-1").placement.relayID.rawValue == "relay-b")
                    #expect(try await b.listAgents().entries.map(\.id.rawValue) == ["drone-1"])
                    do {
                        try await b.heartbeatAgent(id: "drone-1", relayID: "relay-a")
                        Issue.record("a heartbeat naming the old relay succeeded")
                    } catch let error as RPCError {
                        #expect(error.code == .notFound)
                    }
                    try await b.heartbeatRelay(id: "relay-a")
                }
            }
            try await first.stop()
            try await second.stop()
        } catch {
            first.process.signal(SIGKILL)
            second.process.signal(SIGKILL)
            throw error
        }
    }
}
