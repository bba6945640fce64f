import Foundation
import GRPCCore
import RegistryBackendRedis
import RegistryClient
import RegistryCore
import RegistryTestKit
import Testing

/// Outage grace on a real redis-server that these tests pause (SIGSTOP) for longer than
/// the TTLs. The pause is the fault under test, so it takes real time: TTLs of 1 s and a
/// 2.5 s pause keep each test under 10 s.
@Suite("Outage grace on Redis", .timeLimit(.minutes(2)))
struct RedisOutageGraceTests {
    static let ttl = ["--relay-ttl", "1s", "--agent-ttl", "1s", "--redis-timeout", "300ms"]

    /// What the fleet saw after Redis came back.
    struct Outcome {
        var notFound = 0
        var unavailableDuringPause = 0
    }

    /// Registers relay-a with drone-1 and relay-gone with drone-9, then keeps relay-a and
    /// drone-1 heartbeating every 200 ms (as a fleet would) through a `pause` of Redis;
    /// relay-gone stops heartbeating when the pause starts. Returns what relay-a saw
    /// right after the resume.
    func pauseRedis(
        for pause: Duration,
        graceMax: String,
        _ afterResume: (RegistryClient, ContinuousClock.Instant) async throws -> Void = { _, _ in }
    ) async throws -> Outcome {
        let redis = try await RedisServer.start()
        defer {
            redis.signal(SIGCONT)
            Task { await redis.stop() }
        }
        let registry = try await RegistryProcess.start(
            redisPort: redis.port,
            keyPrefix: "grace:",
            Self.ttl + ["--outage-grace-max", graceMax]
        )
        defer { registry.process.signal(SIGKILL) }
        var outcome = Outcome()
        try await registry.withClients { client, health in
            try await eventually("SERVING") { try await health.status() == .serving }
            try await client.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
            try await client.registerAgent(id: "drone-1", relayID: "relay-a")
            try await client.registerRelay(id: "relay-gone", address: "10.0.0.2", grpcPort: 7000)
            try await client.registerAgent(id: "drone-9", relayID: "relay-gone")

            redis.signal(SIGSTOP)
            let pauseEnds = ContinuousClock.now + pause
            while ContinuousClock.now < pauseEnds {
                do {
                    try await client.heartbeatRelay(id: "relay-a")
                } catch let error as RPCError where error.code == .unavailable {
                    outcome.unavailableDuringPause += 1
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            redis.signal(SIGCONT)
            let resumed = ContinuousClock.now
            // The fleet's first heartbeats after the resume: retried while UNAVAILABLE
            // (the connection may still be recovering), counted when NOT_FOUND.
            for call in [
                { try await client.heartbeatRelay(id: "relay-a") },
                { try await client.heartbeatAgent(id: "drone-1", relayID: "relay-a") },
            ] as [@Sendable () async throws -> Void] {
                while true {
                    do {
                        try await call()
                        break
                    } catch let error as RPCError where error.code == .unavailable {
                        try await Task.sleep(for: .milliseconds(50))
                    } catch let error as RPCError where error.code == .notFound {
                        outcome.notFound += 1
                        break
                    }
                }
            }
            try await afterResume(client, resumed)
        }
        _ = try await registry.stop()
        return outcome
    }

    @Test("a Redis pause longer than the TTLs expires nobody who kept heartbeating: 0 NOT_FOUND after the resume")
    func pauseWithGrace() async throws {
        let outcome = try await self.pauseRedis(for: .milliseconds(2_500), graceMax: "5s") { client, _ async throws in
            // The status RPC reports the outage and the grace it got. (No placement read:
            // with 1 s TTLs a loaded machine can let the agent lapse after its heartbeat.)
            let status = try await client.admin.status()
            #expect(status.store.backend == "redis" && status.store.up)
            #expect(status.store.outages == 1)
            let outage = try #require(status.lastOutage)
            #expect(outage.graceMs >= 2_000 && outage.graceMs <= 5_000, "\(outage)")
        }
        #expect(outcome.unavailableDuringPause > 0, "the pause must have been seen")
        #expect(outcome.notFound == 0)
    }

    @Test("without grace (--outage-grace-max 0) the same pause expires the fleet: the test above can fail")
    func pauseWithoutGrace() async throws {
        let outcome = try await self.pauseRedis(for: .milliseconds(2_500), graceMax: "0")
        #expect(outcome.notFound == 2)
    }

    @Test("a relay that stopped for good during the outage is gone no later than its deadline plus the grace bound")
    func deadRelayExpiresAtMostGraceLate() async throws {
        // relay-gone's deadline is about 1 s after its registration; grace extends it by at
        // most 1.5 s, to about when the 2.5 s pause ends. Unbounded grace (the whole 2.5 s)
        // would keep it listed until about 1 s after the resume.
        _ = try await self.pauseRedis(for: .milliseconds(2_500), graceMax: "1500ms") { client, resumed async throws in
            try await Task.sleep(until: resumed + .milliseconds(300), clock: .continuous)
            let relays = try await client.listRelays().entries.map(\.id.rawValue)
            #expect(!relays.contains("relay-gone"), "\(relays)")
            await #expect(throws: RPCError.self) { try await client.placement(of: "drone-9") }
        }
    }

    @Test("a quiet fleet is not an outage: with Redis reachable and no calls, entries expire on time")
    func quietFleetExpires() async throws {
        let redis = try await RedisServer.start()
        defer { Task { await redis.stop() } }
        let registry = try await RegistryProcess.start(redisPort: redis.port, keyPrefix: "quiet:", Self.ttl + ["--outage-grace-max", "5s"])
        defer { registry.process.signal(SIGKILL) }
        try await registry.withClients { client, health in
            try await eventually("SERVING") { try await health.status() == .serving }
            try await client.registerRelay(id: "relay-q", address: "10.0.0.1", grpcPort: 7000)
            let registered = ContinuousClock.now
            // Nothing calls for longer than the TTL: without an outage, no grace.
            try await Task.sleep(until: registered + .milliseconds(1_300), clock: .continuous)
            #expect(try await client.listRelays().entries.isEmpty)
        }
    }

    @Test("during the pause, placement reads are answered from the replica's last confirmed state, flagged stale; unknown agents and writes are UNAVAILABLE")
    func staleReadsDuringPause() async throws {
        let redis = try await RedisServer.start()
        defer {
            redis.signal(SIGCONT)
            Task { await redis.stop() }
        }
        let registry = try await RegistryProcess.start(redisPort: redis.port, keyPrefix: "stale:", Self.ttl + ["--outage-grace-max", "5s"])
        defer { registry.process.signal(SIGKILL) }
        try await registry.withClients { client, health in
            try await eventually("SERVING") { try await health.status() == .serving }
            try await client.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
            try await client.registerAgent(id: "drone-1", relayID: "relay-a")
            #expect(try await client.placement(of: "drone-1").timing.staleAge == nil)

            redis.signal(SIGSTOP)
            // A dashboard reading on: the first read is evidence of the outage (a quiet
            // replica learns of it from its health check, up to a second later).
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await client.placement(of: "drone-1").timing.staleAge != nil)
            // Past both TTLs: the answer is live only under the grace rule.
            try await Task.sleep(for: .milliseconds(1_300))
            let (placement, timing) = try await client.placement(of: "drone-1")
            #expect(placement.relayID.rawValue == "relay-a")
            let age = try #require(timing.staleAge)
            #expect(age >= .milliseconds(1_400) && age < .seconds(5), "\(age)")
            await #expect(throws: RPCError.self) { try await client.placement(of: "never-seen") }
            await #expect(throws: RPCError.self) { try await client.heartbeatRelay(id: "relay-a") }
            #expect(try await health.status() == .serving)
            #expect(try await health.status(RedisRegistryProcessTests.store) == .notServing)
            redis.signal(SIGCONT)
            try await eventually("fresh answers again") { try await client.placement(of: "drone-1").timing.staleAge == nil }
        }
    }

    @Test("with --stale-reads=false, placement reads fail UNAVAILABLE during the pause and the server reports NOT_SERVING")
    func noStaleReads() async throws {
        let redis = try await RedisServer.start()
        defer {
            redis.signal(SIGCONT)
            Task { await redis.stop() }
        }
        let registry = try await RegistryProcess.start(redisPort: redis.port, keyPrefix: "strict:", Self.ttl + ["--stale-reads=false"])
        defer { registry.process.signal(SIGKILL) }
        try await registry.withClients { client, health in
            try await eventually("SERVING") { try await health.status() == .serving }
            try await client.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
            try await client.registerAgent(id: "drone-1", relayID: "relay-a")
            redis.signal(SIGSTOP)
            let error = await #expect(throws: RPCError.self) { try await client.placement(of: "drone-1") }
            #expect(error?.code == .unavailable)
            try await eventually("NOT_SERVING") { try await health.status() == .notServing }
        }
    }

    @Test("two replicas through the same pause grant the grace once, not once each")
    func twoReplicasGrantOnce() async throws {
        let redis = try await RedisServer.start()
        defer {
            redis.signal(SIGCONT)
            Task { await redis.stop() }
        }
        let arguments = Self.ttl + ["--outage-grace-max", "10s"]
        let first = try await RegistryProcess.start(redisPort: redis.port, keyPrefix: "twice:", arguments)
        let second = try await RegistryProcess.start(redisPort: redis.port, keyPrefix: "twice:", arguments)
        defer {
            first.process.signal(SIGKILL)
            second.process.signal(SIGKILL)
        }
        try await first.withClients { one, _ in
            try await second.withClients { two, _ in
                try await one.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
                try await one.registerRelay(id: "relay-gone", address: "10.0.0.2", grpcPort: 7000)
                let before = try #require(try await one.fleet.listRelayStatuses().page.first { $0.relay.id.rawValue == "relay-gone" })
                let pauseStarted = ContinuousClock.now
                redis.signal(SIGSTOP)
                // Both replicas see the outage: each keeps relay-a heartbeating.
                while ContinuousClock.now < pauseStarted + .milliseconds(2_500) {
                    async let a: Void? = try? one.heartbeatRelay(id: "relay-a")
                    async let b: Void? = try? two.heartbeatRelay(id: "relay-a")
                    _ = await (a, b)
                    try await Task.sleep(for: .milliseconds(200))
                }
                redis.signal(SIGCONT)
                for client in [one, two] {
                    try await eventually("relay-a renewed") { (try? await client.heartbeatRelay(id: "relay-a")) != nil }
                }
                let bothRecovered = ContinuousClock.now
                // relay-gone was live when the outage began and nobody renewed it: its
                // deadline moved by the union of the replicas' outage windows, which lies
                // within [pause start, both recovered]. Granted once per replica it would
                // have moved by about twice that.
                let after = try #require(try await two.fleet.listRelayStatuses().page.first { $0.relay.id.rawValue == "relay-gone" })
                let extension_ = Duration.milliseconds(after.expires.rawValue - before.expires.rawValue)
                #expect(extension_ >= .milliseconds(2_000), "grace applied: \(extension_)")
                #expect(extension_ <= bothRecovered - pauseStarted + .milliseconds(100), "counted once: \(extension_) for an outage of \(bothRecovered - pauseStarted)")
            }
        }
    }

    @Test("Redis's own key expiry keeps the grace bound as a margin, so it cannot delete what grace saves")
    func nativeExpiryKeepsMargin() async throws {
        let redis = try await RedisServer.start()
        defer {
            redis.signal(SIGCONT)
            Task { await redis.stop() }
        }
        // No garbage-collection margin of its own: only the grace bound keeps the keys.
        let configuration = RedisBackendConfiguration(
            // 1 s, not 300 ms: the first call also connects, on a machine busy with other suites.
            host: redis.host, port: redis.port, timeout: .seconds(1), keyPrefix: "margin:",
            garbageCollectionMargin: .zero, outageGraceMax: .seconds(5)
        )
        let backend = try RedisBackend(
            configuration: configuration,
            ttl: try TTLPolicy(relayTTL: .seconds(1), agentTTL: .seconds(1)),
            logger: RedisHarness.quietLogger
        )
        defer { Task { await backend.close() } }
        let relay = try RelayID(validating: "relay-a")
        _ = try await backend.registerRelay(RelayRegistration(id: relay, endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)))
        redis.signal(SIGSTOP)
        await #expect(throws: RegistryError.self) { try await backend.heartbeatRelay(relay) }
        // Past the TTL (the failed heartbeat took 1 s), so Redis would drop a hash expiring
        // at TTL alone on resume.
        try await Task.sleep(for: .milliseconds(1_000))
        redis.signal(SIGCONT)
        _ = try await backend.heartbeatRelay(relay)
    }
}
