import Foundation
import GRPCCore
import RegistryClient
import RegistryTestKit
import Testing

/// Outage grace on a real etcd member that these tests pause (SIGSTOP) for longer than
/// the TTLs. The pause is the fault under test, so it takes real time: TTLs of 1 s and a
/// 2.5 s pause keep each test under about 10 s. The member is this suite's own (pausing
/// the shared one would stall every other etcd suite), started once and reused, so the
/// tests run one at a time, each under its own key prefix.
@Suite("Outage grace on etcd", .serialized, .timeLimit(.minutes(2)))
struct EtcdOutageGraceTests {
    static let arguments = ["--backend", "etcd", "--relay-ttl", "1s", "--agent-ttl", "1s", "--etcd-timeout", "300ms"]
    static let pause: Duration = .milliseconds(2_500)

    /// The etcd member this suite pauses.
    actor PausableEtcd {
        static let instance = PausableEtcd()
        private var started: Task<EtcdFixture, any Error>?

        func fixture() async throws -> EtcdFixture {
            if let started {
                return try await started.value
            }
            let task = Task { try await EtcdFixture.start(members: 1) }
            self.started = task
            return try await task.value
        }
    }

    /// Starts a registry on `etcd` under `prefix` with `graceMax` as `--outage-grace-max`.
    func startRegistry(on etcd: EtcdFixture, prefix: String, graceMax: String) async throws -> RegistryProcess {
        try await RegistryProcess.start(
            Self.arguments + [
                "--etcd-endpoints", "http://\(etcd.endpoints[0])",
                "--etcd-key-prefix", prefix,
                "--outage-grace-max", graceMax,
            ]
        )
    }

    /// Polls `condition` until it holds, failing after 10 s.
    func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw ChildProcessError("\(what) did not happen within 10 s")
    }

    /// Retries `call` while it fails UNAVAILABLE (the registry or its connection may still
    /// be recovering); returns whether it answered NOT_FOUND.
    func firstAnswerIsNotFound(_ call: () async throws -> Void) async throws -> Bool {
        let giveUp = ContinuousClock.now + .seconds(10)
        while true {
            do {
                try await call()
                return false
            } catch let error as RPCError where error.code == .unavailable && ContinuousClock.now < giveUp {
                try await Task.sleep(for: .milliseconds(50))
            } catch let error as RPCError where error.code == .notFound {
                return true
            }
        }
    }

    /// What the fleet saw after etcd came back.
    struct Outcome {
        var notFound = 0
        var unavailableDuringPause = 0
    }

    /// Registers relay-a with drone-1 and relay-gone with drone-9, then keeps relay-a and
    /// drone-1 heartbeating every 200 ms (as a fleet would) through a pause of etcd;
    /// relay-gone stops heartbeating when the pause starts. Counts the NOT_FOUNDs of
    /// relay-a's and drone-1's first heartbeats after the resume.
    func pauseEtcd(
        for pause: Duration = Self.pause,
        graceMax: String,
        _ afterResume: (RegistryClient, ContinuousClock.Instant) async throws -> Void = { _, _ in }
    ) async throws -> Outcome {
        let etcd = try await PausableEtcd.instance.fixture()
        defer { try? etcd.signal(SIGCONT) }
        let registry = try await self.startRegistry(on: etcd, prefix: "/grace-\(UUID().uuidString)/", graceMax: graceMax)
        defer { registry.process.signal(SIGKILL) }
        var outcome = Outcome()
        try await registry.withClients { client, health in
            try await self.eventually("SERVING") { await health.isServing(storeService) }
            try await client.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
            try await client.registerAgent(id: "drone-1", relayID: "relay-a")
            try await client.registerRelay(id: "relay-gone", address: "10.0.0.2", grpcPort: 7000)
            try await client.registerAgent(id: "drone-9", relayID: "relay-gone")
            try await client.heartbeatRelay(id: "relay-a")
            try await client.heartbeatAgent(id: "drone-1", relayID: "relay-a")

            try etcd.signal(SIGSTOP)
            let pauseEnds = ContinuousClock.now + pause
            // A failing heartbeat takes up to about 0.3 s (--etcd-timeout): stop early
            // enough that etcd resumes when the pause ends, not up to a round later.
            while ContinuousClock.now + .milliseconds(600) < pauseEnds {
                do {
                    try await client.heartbeatRelay(id: "relay-a")
                    try await client.heartbeatAgent(id: "drone-1", relayID: "relay-a")
                } catch let error as RPCError where error.code == .unavailable {
                    outcome.unavailableDuringPause += 1
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            try await Task.sleep(until: pauseEnds, clock: .continuous)
            try etcd.signal(SIGCONT)
            let resumed = ContinuousClock.now
            if try await self.firstAnswerIsNotFound({ try await client.heartbeatRelay(id: "relay-a") }) {
                outcome.notFound += 1
            }
            if try await self.firstAnswerIsNotFound({ try await client.heartbeatAgent(id: "drone-1", relayID: "relay-a") }) {
                outcome.notFound += 1
            }
            try await afterResume(client, resumed)
        }
        return outcome
    }

    @Test("an etcd pause longer than the TTLs expires nobody who kept heartbeating: 0 NOT_FOUND after the resume")
    func pauseWithGrace() async throws {
        // No placement read afterwards: with 1 s TTLs, a loaded machine can let the agent
        // lapse between its heartbeat and the read, which says nothing about grace.
        let outcome = try await self.pauseEtcd(graceMax: "5s") { client, _ async throws in
            let status = try await client.admin.status()
            #expect(status.store.backend == "etcd" && status.store.outages >= 1)
            // Not the last outage's grace: on a loaded machine a later 300 ms timeout can
            // open (and close) a short outage of its own.
            #expect(status.lastOutage != nil)
        }
        #expect(outcome.unavailableDuringPause > 0, "the pause must have been seen")
        #expect(outcome.notFound == 0)
    }

    @Test("without grace (--outage-grace-max 0) the same pause expires the fleet: the test above can fail")
    func pauseWithoutGrace() async throws {
        let outcome = try await self.pauseEtcd(graceMax: "0")
        #expect(outcome.unavailableDuringPause > 0, "the pause must have been seen")
        #expect(outcome.notFound == 2)
    }

    @Test("a relay that stopped for good during the outage is gone no later than its deadline plus the grace bound")
    func deadRelayExpiresAtMostGraceLate() async throws {
        // relay-gone's deadline is about 1 s after its registration, when the 2 s pause
        // starts; grace extends it by at most 1.5 s, to about 0.5 s after the resume.
        // Unbounded grace (the whole outage, 2 s or more) would keep it listed until at
        // least 1 s after the resume. relay-a, heartbeating, rides through the pause.
        let pause: Duration = .seconds(2)
        let outcome = try await self.pauseEtcd(for: pause, graceMax: "1500ms") { client, resumed async throws in
            try await Task.sleep(until: resumed + .milliseconds(700), clock: .continuous)
            let relays = try await client.listRelays().entries.map(\.id.rawValue)
            #expect(relays.contains("relay-a"), "\(relays)")
            #expect(!relays.contains("relay-gone"), "\(relays)")
            await #expect(throws: RPCError.self) { try await client.placement(of: "drone-9") }
        }
        #expect(outcome.notFound == 0)
    }

    @Test("a quiet fleet is not an outage: with etcd reachable and no calls, entries expire on time")
    func quietFleetExpires() async throws {
        let etcd = try await PausableEtcd.instance.fixture()
        let registry = try await self.startRegistry(on: etcd, prefix: "/quiet-\(UUID().uuidString)/", graceMax: "5s")
        defer { registry.process.signal(SIGKILL) }
        try await registry.withClients { client, health in
            try await self.eventually("SERVING") { await health.isServing(storeService) }
            try await client.registerRelay(id: "relay-q", address: "10.0.0.1", grpcPort: 7000)
            let registered = ContinuousClock.now
            // Nothing calls for longer than the TTL: without an outage, no grace.
            try await Task.sleep(until: registered + .milliseconds(1_300), clock: .continuous)
            #expect(try await client.listRelays().entries.isEmpty)
        }
    }

    @Test("two registry replicas through the same pause grant its grace once, not once each")
    func twoReplicasGrantOnce() async throws {
        let etcd = try await PausableEtcd.instance.fixture()
        defer { try? etcd.signal(SIGCONT) }
        let prefix = "/twice-\(UUID().uuidString)/"
        let first = try await self.startRegistry(on: etcd, prefix: prefix, graceMax: "5s")
        defer { first.process.signal(SIGKILL) }
        let second = try await self.startRegistry(on: etcd, prefix: prefix, graceMax: "5s")
        defer { second.process.signal(SIGKILL) }
        try await first.withClients { one, oneHealth in
            try await second.withClients { two, twoHealth in
                try await self.eventually("SERVING") { await oneHealth.isServing(storeService) }
                try await self.eventually("SERVING") { await twoHealth.isServing(storeService) }
                try await one.registerRelay(id: "relay-a", address: "10.0.0.1", grpcPort: 7000)
                // relay-x has about 0.7 s left when the pause starts, and never heartbeats again.
                try await one.registerRelay(id: "relay-x", address: "10.0.0.9", grpcPort: 7000)
                try await Task.sleep(for: .milliseconds(300))

                try etcd.signal(SIGSTOP)
                let pauseEnds = ContinuousClock.now + Self.pause
                var failed = (one: 0, two: 0)
                while ContinuousClock.now < pauseEnds {
                    // Both replicas see the outage from its start.
                    do { try await one.heartbeatRelay(id: "relay-a") } catch { failed.one += 1 }
                    do { try await two.heartbeatRelay(id: "relay-a") } catch { failed.two += 1 }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try etcd.signal(SIGCONT)
                #expect(failed.one > 0 && failed.two > 0)
                // Both replicas close their outage (each grants what is left of its window).
                #expect(try await !self.firstAnswerIsNotFound { try await one.heartbeatRelay(id: "relay-a") })
                #expect(try await !self.firstAnswerIsNotFound { try await two.heartbeatRelay(id: "relay-a") })
                let bothGranted = ContinuousClock.now

                // Counted once, relay-x keeps the ~0.7 s it had: listed now, gone well before
                // 1.5 s from now. Counted twice it would be listed for another ~2.5 s.
                #expect(try await two.listRelays().entries.map(\.id.rawValue).contains("relay-x"))
                try await Task.sleep(until: bothGranted + .milliseconds(1_500), clock: .continuous)
                let relays = try await one.listRelays().entries.map(\.id.rawValue)
                #expect(!relays.contains("relay-x"), "\(relays)")

            }
        }
    }
}
