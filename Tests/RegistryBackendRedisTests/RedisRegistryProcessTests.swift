import Foundation
import GRPCCore
import RegistryClient
import RegistryCore
import RegistryTestKit
import Testing

/// The registry executable on a real redis-server that these tests start, crash, hang and restart.
@Suite("Registry processes on Redis", .timeLimit(.minutes(2)))
struct RedisRegistryProcessTests {
    static let store = "aeroarc.registry.v1.AeroRegistry.store"
    static let fleet: [String: [String]] = [
        "relay-a": ["drone-1", "drone-2", "drone-3"],
        "relay-b": ["drone-4", "drone-5"],
        "relay-c": ["drone-6"],
    ]

    func expectFleet(_ client: RegistryClient) async throws {
        let relays = try await client.listRelays().entries.map(\.id.rawValue)
        #expect(relays == Self.fleet.keys.sorted())
        let agents = try await client.listAgents().entries
        let expected = Self.fleet.flatMap { relay, agents in agents.map { ($0, relay) } }.sorted { $0.0 < $1.0 }
        #expect(agents.map(\.id.rawValue) == expected.map(\.0))
        for (agent, relay) in expected {
            #expect(try await client.placement(of: agent).placement.relayID.rawValue == relay)
        }
    }

    @Test("killing Redis fails RPCs promptly with UNAVAILABLE; after a restart the same process serves again and relays restore their state")
    func redisCrashAndRestart() async throws {
        let redis = try await RedisServer.start()
        let registry = try await RegistryProcess.start(redisPort: redis.port, keyPrefix: "crash:", ["--redis-timeout", "500ms"])
        defer { registry.process.signal(SIGKILL) }
        try await registry.withClients { client, health in
            try await eventually("SERVING") { try await health.status() == .serving }
            try await heartbeatOrRegister(client, fleet: Self.fleet)
            try await self.expectFleet(client)

            redis.signal(SIGKILL)
            await redis.stop()
            for _ in 0..<3 {
                let started = ContinuousClock.now
                do {
                    try await client.heartbeatRelay(id: "relay-a")
                    Issue.record("expected UNAVAILABLE")
                } catch let error as RPCError {
                    #expect(error.code == .unavailable)
                    #expect(error.message.contains("redis at 127.0.0.1:\(redis.port)"), "\(error.message)")
                }
                #expect(ContinuousClock.now - started < .milliseconds(1_500), "UNAVAILABLE must be prompt")
            }
            // The store's health is NOT_SERVING, for alerting; the server keeps answering
            // placement reads from what it confirmed, so it stays SERVING.
            try await eventually("store NOT_SERVING") { try await health.status(Self.store) == .notServing }
            #expect(try await health.status() == .serving)
            #expect(registry.process.isRunning)

            // Redis comes back empty, on the same port. The registry notices by itself.
            let restarted = try await RedisServer.start(port: redis.port)
            defer { Task { await restarted.stop() } }
            try await eventually("store SERVING again") { try await health.status(Self.store) == .serving }
            // Relays and agents were lost with Redis' memory: heartbeats say NOT_FOUND, and
            // the documented recovery restores everything.
            await #expect(throws: RPCError.self) { try await client.heartbeatRelay(id: "relay-a") }
            try await heartbeatOrRegister(client, fleet: Self.fleet)
            try await self.expectFleet(client)
        }
        #expect(try await registry.stop() == 0)
        #expect(registry.process.standardError.contains("redis is unreachable"))
    }

    @Test("a Redis that hangs fails RPCs with UNAVAILABLE within --redis-timeout")
    func redisHangs() async throws {
        let redis = try await RedisServer.start()
        defer {
            redis.signal(SIGCONT)
            Task { await redis.stop() }
        }
        let registry = try await RegistryProcess.start(redisPort: redis.port, keyPrefix: "hang:", ["--redis-timeout", "500ms"])
        defer { registry.process.signal(SIGKILL) }
        try await registry.withClients { client, health in
            try await client.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
            redis.signal(SIGSTOP)
            let started = ContinuousClock.now
            do {
                try await client.heartbeatRelay(id: "relay-a")
                Issue.record("expected UNAVAILABLE")
            } catch let error as RPCError {
                #expect(error.code == .unavailable)
                #expect(error.message.contains("did not answer within 500ms"), "\(error.message)")
            }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(400) && elapsed < .milliseconds(1_500), "\(elapsed)")
            try await eventually("store NOT_SERVING") { try await health.status(Self.store) == .notServing }
            redis.signal(SIGCONT)
            try await eventually("store SERVING again") { try await health.status(Self.store) == .serving }
            try await client.heartbeatRelay(id: "relay-a")
        }
    }

    @Test("started while Redis is unreachable, the registry runs NOT_SERVING and serves once Redis appears")
    func startsWithoutRedis() async throws {
        let placeholder = try await RedisServer.start()
        let port = placeholder.port
        await placeholder.stop()
        let registry = try await RegistryProcess.start(redisPort: port, keyPrefix: "late:")
        defer { registry.process.signal(SIGKILL) }
        try await registry.withClients { client, health in
            #expect(try await health.status() == .notServing)
            await #expect(throws: RPCError.self) { try await client.listRelays() }
            _ = try await registry.process.waitForStandardErrorLine { $0.contains("redis is unreachable") }

            let redis = try await RedisServer.start(port: port)
            defer { Task { await redis.stop() } }
            try await eventually("SERVING") { try await health.status() == .serving }
            try await client.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
            #expect(try await client.listRelays().entries.map(\.id.rawValue) == ["relay-a"])
        }
    }

    /// Expiry is Redis's clock at work here, so this waits for real through the relay TTL:
    /// 3s, so that a stalled machine cannot expire the relay before both processes saw it.
    @Test("two registry processes on one Redis see the same state and the same expiry")
    func twoProcesses() async throws {
        let redis = try await RedisServer.start()
        defer { Task { await redis.stop() } }
        let ttl = ["--relay-ttl", "3s", "--agent-ttl", "3s"]
        let first = try await RegistryProcess.start(redisPort: redis.port, keyPrefix: "shared:", ttl)
        let second = try await RegistryProcess.start(redisPort: redis.port, keyPrefix: "shared:", ttl)
        defer {
            first.process.signal(SIGKILL)
            second.process.signal(SIGKILL)
        }
        try await first.withClients { one, _ in
            try await second.withClients { two, _ in
                try await one.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
                try await two.registerAgent(id: "drone-7", relayID: "relay-a")
                let seenByOne = try await one.listRelays().entries
                let seenByTwo = try await two.listRelays().entries
                #expect(seenByOne.map(\.id.rawValue) == ["relay-a"])
                #expect(seenByOne == seenByTwo)
                #expect(try await one.placement(of: "drone-7").placement.relayID.rawValue == "relay-a")
                try await two.heartbeatRelay(id: "relay-a")
                #expect(try await one.listRelays().entries.first?.lastHeartbeat == (try await two.listRelays().entries.first?.lastHeartbeat))

                try await eventually("relay-a expires for the first process") { try await one.listRelays().entries.isEmpty }
                // Both evaluate liveness on Redis's clock: once one sees it gone, so does the other.
                #expect(try await two.listRelays().entries.isEmpty)
                #expect(try await two.listAgents().entries.isEmpty)
                do {
                    try await two.heartbeatRelay(id: "relay-a")
                    Issue.record("expected NOT_FOUND")
                } catch let error as RPCError {
                    #expect(error.code == .notFound)
                }
            }
        }
        #expect(try await first.stop() == 0)
        #expect(try await second.stop() == 0)
    }
}
