import EtcdProtos
import Foundation
import Logging
@testable import RegistryBackendEtcd
import RegistryCore
import RegistryTestKit
import Testing

/// The fleet extension on etcd: what the contract suite cannot see (round trips, the
/// transaction size limit, the guards against stale writers, the write hints).
@Suite("etcd backend fleet extension")
struct EtcdFleetTests {
    static let logger: Logger = {
        var logger = Logger(label: "etcd-fleet-test")
        logger.logLevel = .critical
        return logger
    }()

    static let endpoint = try! RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)

    /// A running backend on a fresh prefix of the shared etcd (and a second replica on the
    /// same prefix, for tests that need one), on one manual clock.
    func withBackends(
        ttl: TTLPolicy = .default,
        limits: CapacityLimits = CapacityLimits(),
        _ body: (EtcdBackend<ManualClock>, EtcdBackend<ManualClock>, ManualClock) async throws -> Void
    ) async throws {
        let harness = try await EtcdHarness.shared()
        let configuration = try harness.configuration()
        let first = try EtcdBackend(configuration: configuration, ttl: ttl, limits: limits, clock: harness.clock, logger: Self.logger)
        let second = try EtcdBackend(configuration: configuration, ttl: ttl, limits: limits, clock: harness.clock, logger: Self.logger)
        try await withRunningService(first) {
            try await withRunningService(second) {
                try await body(first, second, harness.clock)
            }
        }
    }

    func ids(_ prefix: String, _ count: Int) throws -> [AgentID] {
        try (0..<count).map { try AgentID(validating: String(format: "\(prefix)-%05d", $0)) }
    }

    /// Calls `body` makes to etcd.
    func calls(_ backend: EtcdBackend<ManualClock>, _ body: () async throws -> Void) async throws -> Int {
        let before = backend.client.calls.load(ordering: .relaxed)
        try await body()
        return backend.client.calls.load(ordering: .relaxed) - before
    }

    @Test("a sync of 1,000 agents runs in transactions under etcd's 128-operation limit, a bounded number of calls")
    func chunkedSync() async throws {
        try await self.withBackends { backend, _, _ in
            let relayID = try RelayID(validating: "relay-1")
            let agents = try self.ids("drone", 1_000)
            let chunks = (agents.count + EtcdBackend<ManualClock>.agentsPerTransaction - 1) / EtcdBackend<ManualClock>.agentsPerTransaction
            var placed: RelaySyncResult?
            // Cold: relay read, relay count, lease grant, relay put; one read and one write per chunk.
            let cold = try await self.calls(backend) {
                placed = try await backend.syncRelay(RelaySync(relayID: relayID, endpoint: Self.endpoint, place: agents, renew: []))
            }
            #expect(placed?.lost == [])
            #expect(cold <= 2 * chunks + 4, "\(cold) calls")
            // Warm, through the replica that wrote them: the relay's put and keep-alive, one write per chunk.
            var renewed: RelaySyncResult?
            let warm = try await self.calls(backend) {
                renewed = try await backend.syncRelay(RelaySync(relayID: relayID, endpoint: nil, place: [], renew: agents))
            }
            #expect(renewed?.lost == [])
            #expect(warm == chunks + 2, "\(warm) calls")
            let lookup = try await self.calls(backend) {
                let found = try await backend.placements(of: agents.reversed())
                #expect(found.placements.count == agents.count)
                #expect(found.placements.allSatisfy { $0.lastHeartbeat == renewed?.now })
            }
            #expect(lookup == chunks + 1, "\(lookup) calls")
            #expect(try await backend.listAgents().entries.map(\.id) == agents)
        }
    }

    @Test("a sync of the most agents one sync may carry places and renews them all")
    func largestSync() async throws {
        try await self.withBackends { backend, _, _ in
            let relayID = try RelayID(validating: "relay-1")
            let agents = try self.ids("drone", RelaySync.maximumAgents)
            let placed = try await backend.syncRelay(RelaySync(relayID: relayID, endpoint: Self.endpoint, place: agents, renew: []))
            #expect(placed.lost.isEmpty)
            let renewed = try await backend.syncRelay(RelaySync(relayID: relayID, endpoint: nil, place: [], renew: agents))
            #expect(renewed.lost.isEmpty)
            #expect(try await backend.listRelayStatuses(after: nil, limit: 1).entries.map(\.agentCount) == [agents.count])
        }
    }

    @Test("every agent a sync writes is on its relay's lease: one keep-alive renews them all")
    func agentsShareTheRelayLease() async throws {
        try await self.withBackends { backend, _, _ in
            let relayID = try RelayID(validating: "relay-1")
            _ = try await backend.syncRelay(RelaySync(relayID: relayID, endpoint: Self.endpoint, place: try self.ids("drone", 3), renew: []))
            let (kvs, _) = try await backend.readPrefix(backend.keys.prefix)
            let relayLease = try #require(kvs.first { backend.keys.relayID(fromKey: $0.key) != nil }?.lease)
            #expect(relayLease != 0)
            #expect(kvs.filter { backend.keys.agentID(fromKey: $0.key) != nil }.map(\.lease) == [relayLease, relayLease, relayLease])
        }
    }

    @Test("a relay's lease outlasts both TTLs, so an agent keeping it after a move never loses its key early")
    func leaseCoversAgentTTL() throws {
        let configuration = try EtcdHarness(endpoints: ["127.0.0.1:2379"]).configuration()
        let ttl = try TTLPolicy(relayTTL: .seconds(2), agentTTL: .seconds(10))
        let backend = try EtcdBackend(configuration: configuration, ttl: ttl, clock: ManualClock(), logger: Self.logger)
        #expect(backend.relayLeaseSeconds >= backend.agentLeaseSeconds)
    }

    @Test("a stale incarnation's write never renews an agent that moved, nor one on a relay that started again")
    func staleWritesAreRefused() async throws {
        try await self.withBackends(ttl: try TTLPolicy(relayTTL: .seconds(2), agentTTL: .seconds(6))) { backend, other, clock in
            let a = try RelayID(validating: "relay-a")
            let b = try RelayID(validating: "relay-b")
            let drone = try AgentID(validating: "drone-1")
            let key = backend.keys.key(of: drone)
            let synced = try await backend.syncRelay(RelaySync(relayID: a, endpoint: Self.endpoint, place: [drone], renew: []))
            let relay = try await backend.upsertRelay(a, endpoint: nil, by: backend.client.operationDeadline())
            let seen = try #require(try await backend.read(key, by: backend.client.operationDeadline()))

            // Another replica moves it to relay-b; relay-a's write, prepared from what it saw, is refused.
            _ = try await other.registerRelay(RelayRegistration(id: b, endpoint: Self.endpoint))
            _ = try await other.registerAgent(drone, on: b)
            let staleWrite = self.write(backend, relay: a, incarnation: Int64(synced.incarnation.rawValue), lease: relay.lease, now: clock.now().rawValue)
            let chunk = SyncChunk(entries: [.init(agent: 0, key: key, step: .write(EtcdCompare.unmodified(key, since: seen.modRevision)))])
            guard case .ran(let results, _) = try await backend.run(chunk, writing: staleWrite),
                case .seen(let state) = results.first
            else {
                Issue.record("the stale write was not refused")
                return
            }
            #expect(state.record?.relayID == b)
            #expect(try await backend.placement(of: drone).relayID == b)

            // relay-a expires and starts again: a write naming the old incarnation is refused
            // even with the agent's current mod revision.
            clock.advance(by: .seconds(3))
            let again = try await backend.syncRelay(RelaySync(relayID: a, endpoint: Self.endpoint, place: [], renew: []))
            #expect(again.relayStarted)
            let current = try #require(try await backend.read(key, by: backend.client.operationDeadline()))
            let oldIncarnation = self.write(backend, relay: a, incarnation: Int64(synced.incarnation.rawValue), lease: relay.lease, now: clock.now().rawValue)
            let second = SyncChunk(entries: [.init(agent: 0, key: key, step: .write(EtcdCompare.unmodified(key, since: current.modRevision)))])
            guard case .ran(let secondResults, _) = try await backend.run(second, writing: oldIncarnation),
                case .seen = secondResults.first
            else {
                Issue.record("the old incarnation's write was not refused")
                return
            }
            #expect(try await backend.read(key, by: backend.client.operationDeadline())?.modRevision == current.modRevision)
        }
    }

    func write(_ backend: EtcdBackend<ManualClock>, relay: RelayID, incarnation: Int64, lease: Int64, now: Int64) -> AgentPlacementWrite {
        let relayKey = backend.keys.key(of: relay)
        let record = AgentRecord(deadline: now + 6_000, lastHeartbeat: now, relayIncarnation: incarnation, relayID: relay)
        return AgentPlacementWrite(
            value: record.encoded(),
            lease: lease,
            relayGuards: [EtcdCompare.created(relayKey, at: incarnation), EtcdCompare.live(relayKey, at: now)]
        )
    }

    @Test("a remembered write is only a hint: a renewal of an agent another replica moved reports where it is")
    func staleHintsAreChecked() async throws {
        try await self.withBackends { backend, other, _ in
            let a = try RelayID(validating: "relay-a")
            let b = try RelayID(validating: "relay-b")
            let agents = try self.ids("drone", 5)
            _ = try await backend.syncRelay(RelaySync(relayID: a, endpoint: Self.endpoint, place: agents, renew: []))
            // The other replica moves two of them: this one still remembers them on relay-a.
            _ = try await other.syncRelay(RelaySync(relayID: b, endpoint: Self.endpoint, place: [agents[1], agents[3]], renew: []))
            let result = try await backend.syncRelay(RelaySync(relayID: a, endpoint: nil, place: [], renew: agents))
            #expect(result.lost == [LostAgent(agentID: agents[1], reason: .placedElsewhere(current: b)), LostAgent(agentID: agents[3], reason: .placedElsewhere(current: b))])
            #expect(try await backend.listAgents().entries.map(\.relayID) == [a, b, a, b, a])
            // The v1 heartbeat goes on from what the sync wrote.
            #expect(try await backend.heartbeatAgent(agents[0], expectedRelayID: a).relayID == a)
            // And a placement through the stale replica moves an agent back.
            let back = try await backend.syncRelay(RelaySync(relayID: a, endpoint: nil, place: [agents[1]], renew: []))
            #expect(back.lost.isEmpty)
            #expect(try await other.placement(of: agents[1]).relayID == a)
        }
    }

    @Test("concurrent syncs through two replicas: every agent ends on one relay, a renewal never takes back a moved agent")
    func concurrentSyncs() async throws {
        try await self.withBackends { backend, other, _ in
            let a = try RelayID(validating: "relay-a")
            let b = try RelayID(validating: "relay-b")
            let agents = try self.ids("drone", 250)
            async let placedOnA = backend.syncRelay(RelaySync(relayID: a, endpoint: Self.endpoint, place: agents, renew: []))
            async let placedOnB = other.syncRelay(RelaySync(relayID: b, endpoint: Self.endpoint, place: agents, renew: []))
            #expect(try await placedOnA.lost.isEmpty)
            #expect(try await placedOnB.lost.isEmpty)
            let listed = try await backend.listAgents().entries
            #expect(listed.map(\.id) == agents)
            let lookup = try await other.placements(of: agents)
            #expect(lookup.placements.map(\.relayID) == listed.map(\.relayID))

            // Everything back on relay-a; then relay-a renews them all while relay-b takes the odd ones.
            _ = try await backend.syncRelay(RelaySync(relayID: a, endpoint: nil, place: agents, renew: []))
            let odd = agents.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
            async let renewal = backend.syncRelay(RelaySync(relayID: a, endpoint: nil, place: [], renew: agents))
            async let move = other.syncRelay(RelaySync(relayID: b, endpoint: nil, place: odd, renew: []))
            let lost = try await renewal.lost
            #expect(try await move.lost.isEmpty)
            #expect(lost.allSatisfy { odd.contains($0.agentID) && $0.reason == .placedElsewhere(current: b) })
            let final = try await other.listAgents().entries
            #expect(final.map(\.relayID) == agents.indices.map { $0 % 2 == 1 ? b : a })
        }
    }

    @Test("near the agent limit, a sync creates no more than fits, over several guarded transactions")
    func capacityNearTheLimit() async throws {
        try await self.withBackends(limits: CapacityLimits(maxAgents: 300)) { backend, _, _ in
            let relayID = try RelayID(validating: "relay-1")
            let agents = try self.ids("drone", 400)
            let result = try await backend.syncRelay(RelaySync(relayID: relayID, endpoint: Self.endpoint, place: agents, renew: []))
            #expect(result.lost == agents.suffix(100).map { LostAgent(agentID: $0, reason: .capacity) })
            #expect(try await backend.listAgents().entries.map(\.id) == Array(agents.prefix(300)))
        }
    }

    @Test("pages skip dead entries across range pages, never come back empty while live ones follow, and list each once")
    func pagingAcrossRanges() async throws {
        try await self.withBackends(ttl: try TTLPolicy(relayTTL: .seconds(4), agentTTL: .seconds(2))) { backend, _, clock in
            let a = try RelayID(validating: "relay-a")
            let b = try RelayID(validating: "relay-b")
            let agents = try self.ids("drone", 400)
            // Alternating relays; then only relay-a's even agents are renewed, the rest expire.
            let onA = agents.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
            let onB = agents.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
            _ = try await backend.syncRelay(RelaySync(relayID: a, endpoint: Self.endpoint, place: onA, renew: []))
            _ = try await backend.syncRelay(RelaySync(relayID: b, endpoint: Self.endpoint, place: onB, renew: []))
            clock.advance(by: .seconds(1))
            let kept = onA.enumerated().filter { $0.offset % 5 == 0 }.map(\.element)
            _ = try await backend.syncRelay(RelaySync(relayID: a, endpoint: nil, place: [], renew: kept))
            clock.advance(by: .milliseconds(1_500))

            for relayFilter in [nil, a] {
                var listed: [AgentID] = []
                var after: AgentID?
                for _ in 0..<100 {
                    let page = try await backend.listPlacements(relayID: relayFilter, after: after, limit: 3)
                    listed += page.entries.map(\.agentID)
                    guard page.hasMore else { break }
                    let last = try #require(page.entries.last, "an empty page said more follow")
                    after = last.agentID
                }
                #expect(listed == kept)
            }
            #expect(try await backend.listPlacements(relayID: b, after: nil, limit: 10).entries.isEmpty)
            let statuses = try await backend.listRelayStatuses(after: nil, limit: 1)
            #expect(statuses.entries.map(\.agentCount) == [kept.count])
            #expect(statuses.hasMore)
            let rest = try await backend.listRelayStatuses(after: a, limit: 1)
            #expect(rest.entries.map(\.relay.id) == [b])
            #expect(rest.entries.map(\.agentCount) == [0])
            #expect(!rest.hasMore)
        }
    }
}

@Suite("sync steps")
struct SyncStepTests {
    let relayID = try! RelayID(validating: "relay-a")
    let other = try! RelayID(validating: "relay-b")

    func agent(_ kind: SyncedAgent.Kind, _ record: AgentRecord?, exists: Bool = true, revision: Int64 = 10) -> SyncedAgent {
        var state = AgentKeyState(nil, readAt: revision)
        state.exists = exists
        state.modRevision = exists ? 5 : 0
        state.record = record
        return SyncedAgent(id: try! AgentID(validating: "drone"), key: [], kind: kind, state: state)
    }

    func record(on relay: RelayID, incarnation: Int64 = 7, deadline: Int64 = 2_000) -> AgentRecord {
        AgentRecord(deadline: deadline, lastHeartbeat: 0, relayIncarnation: incarnation, relayID: relay)
    }

    func step(_ agent: SyncedAgent, draining: Bool = false) -> SyncStep {
        SyncStep.next(for: agent, relayID: self.relayID, incarnation: 7, now: 1_000, draining: draining)
    }

    @Test("placements write over any state, and create only what is absent")
    func placements() {
        #expect(self.step(SyncedAgent(id: try! AgentID(validating: "x"), key: [], kind: .place)) == .read)
        #expect(self.step(self.agent(.place, self.record(on: self.other))) == .move)
        #expect(self.step(self.agent(.place, self.record(on: self.relayID, deadline: 0))) == .move)
        #expect(self.step(self.agent(.place, self.record(on: self.relayID, incarnation: 3))) == .move)
        #expect(self.step(self.agent(.place, nil, exists: false)) == .create)
        // Already live on this incarnation: a renewal, which a drain does not stop.
        #expect(self.step(self.agent(.place, self.record(on: self.relayID))) == .write)
    }

    @Test("a draining relay renews the placements already live on it and loses the others, from reads only")
    func drainingPlacements() {
        #expect(self.step(self.agent(.place, self.record(on: self.relayID)), draining: true) == .write)
        #expect(self.step(self.agent(.place, self.record(on: self.relayID), revision: 0), draining: true) == .write)
        #expect(self.step(self.agent(.place, self.record(on: self.other)), draining: true) == .lost(.relayDraining))
        #expect(self.step(self.agent(.place, self.record(on: self.relayID, incarnation: 3)), draining: true) == .lost(.relayDraining))
        #expect(self.step(self.agent(.place, nil, exists: false), draining: true) == .lost(.relayDraining))
        // Remembered elsewhere: read first, it may be on this relay by now.
        #expect(self.step(self.agent(.place, self.record(on: self.other), revision: 0), draining: true) == .read)
        // Renewals are not placements.
        #expect(self.step(self.agent(.renew, self.record(on: self.relayID)), draining: true) == .write)
    }

    @Test("renewals write only what is live on this incarnation; losses come from reads, never from hints")
    func renewals() {
        #expect(self.step(self.agent(.renew, self.record(on: self.relayID))) == .write)
        #expect(self.step(self.agent(.renew, nil, exists: false)) == .lost(.notLive))
        #expect(self.step(self.agent(.renew, self.record(on: self.relayID, deadline: 1_000))) == .lost(.notLive))
        #expect(self.step(self.agent(.renew, self.record(on: self.relayID, incarnation: 3))) == .lost(.notLive))
        #expect(self.step(self.agent(.renew, self.record(on: self.other, incarnation: 3))) == .checkElsewhere(self.other, incarnation: 3, revision: 10))
        // Remembered (revision 0): written on, but a loss means reading first.
        #expect(self.step(self.agent(.renew, self.record(on: self.relayID), revision: 0)) == .write)
        #expect(self.step(self.agent(.renew, self.record(on: self.relayID, incarnation: 3), revision: 0)) == .read)
        #expect(self.step(self.agent(.renew, self.record(on: self.other), revision: 0)) == .read)
    }
}
