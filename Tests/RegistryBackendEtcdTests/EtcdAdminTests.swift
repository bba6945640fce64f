import EtcdProtos
import Foundation
import Logging
@testable import RegistryBackendEtcd
import RegistryCore
import RegistryTestKit
import Testing

/// The admin operations on etcd: what the contract suite cannot see (a second replica, the
/// write hints, round trips, drain marks of earlier incarnations, syncs racing them).
@Suite("etcd backend admin operations")
struct EtcdAdminTests {
    static let logger: Logger = {
        var logger = Logger(label: "etcd-admin-test")
        logger.logLevel = .critical
        return logger
    }()

    static let endpoint = try! RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)

    /// Two replicas on a fresh prefix of the shared etcd, on one manual clock.
    func withBackends(_ body: (EtcdBackend<ManualClock>, EtcdBackend<ManualClock>, ManualClock) async throws -> Void) async throws {
        let harness = try await EtcdHarness.shared()
        let configuration = try harness.configuration()
        let first = try EtcdBackend(configuration: configuration, ttl: .default, clock: harness.clock, logger: Self.logger)
        let second = try EtcdBackend(configuration: configuration, ttl: .default, clock: harness.clock, logger: Self.logger)
        try await withRunningService(first) {
            try await withRunningService(second) {
                try await body(first, second, harness.clock)
            }
        }
    }

    func sync(_ relay: String, endpoint: Bool = true, place: [String] = [], renew: [String] = []) throws -> RelaySync {
        RelaySync(
            relayID: try RelayID(validating: relay),
            endpoint: endpoint ? Self.endpoint : nil,
            place: try place.map { try AgentID(validating: $0) },
            renew: try renew.map { try AgentID(validating: $0) }
        )
    }

    func expectError(_ code: RegistryError.Code, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await body()
            Issue.record("expected \(code)", sourceLocation: sourceLocation)
        } catch let error as RegistryError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a drain on one replica stops placements through the other at once, even from its write hints")
    func drainAcrossReplicas() async throws {
        try await self.withBackends { first, second, _ in
            let a = try RelayID(validating: "relay-a")
            // The second replica wrote relay-a, drone-1 on it and drone-2 on relay-b: it remembers them.
            _ = try await second.syncRelay(try self.sync("relay-a", place: ["drone-1"]))
            _ = try await second.syncRelay(try self.sync("relay-b", place: ["drone-2"]))
            try await first.setDraining(a, true)
            #expect(try await second.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [true, false])

            // Warm: nothing read first; the move's write is refused by the drain guard and decided again.
            let warm = try await second.syncRelay(try self.sync("relay-a", endpoint: false, place: ["drone-1", "drone-2"]))
            #expect(warm.lost == [LostAgent(agentID: try AgentID(validating: "drone-2"), reason: .relayDraining)])
            // Cold: a new agent is read first, with the drain key.
            let cold = try await second.syncRelay(try self.sync("relay-a", place: ["drone-3"]))
            #expect(cold.lost == [LostAgent(agentID: try AgentID(validating: "drone-3"), reason: .relayDraining)])
            await self.expectError(.failedPrecondition) { _ = try await second.registerAgent(try AgentID(validating: "drone-2"), on: a) }
            #expect(try await first.placement(of: try AgentID(validating: "drone-2")).relayID == (try RelayID(validating: "relay-b")))

            try await first.setDraining(a, false)
            #expect(try await second.syncRelay(try self.sync("relay-a", endpoint: false, place: ["drone-2", "drone-3"])).lost.isEmpty)
            #expect(try await first.listPlacements(relayID: a, after: nil, limit: 10).entries.count == 3)
        }
    }

    @Test("nothing a replica remembers renews a relay or agent another replica deregistered")
    func hintsAfterDeregistration() async throws {
        try await self.withBackends { first, second, _ in
            let a = try RelayID(validating: "relay-a")
            let drone = try AgentID(validating: "drone-1")
            _ = try await first.syncRelay(try self.sync("relay-a", place: ["drone-1", "drone-2"]))
            #expect(try await second.deregisterRelay(a) == 2)

            await self.expectError(.notFound) { _ = try await first.heartbeatRelay(a) }
            await self.expectError(.notFound) { _ = try await first.heartbeatAgent(drone, expectedRelayID: nil) }
            await self.expectError(.notFound) { _ = try await first.syncRelay(try self.sync("relay-a", endpoint: false, renew: ["drone-1"])) }
            let again = try await first.syncRelay(try self.sync("relay-a", renew: ["drone-1", "drone-2"]))
            #expect(again.relayStarted)
            #expect(again.lost.map(\.reason) == [.notLive, .notLive])

            // An agent deregistered through the other replica.
            _ = try await first.registerAgent(drone, on: a)
            try await second.deregisterAgent(drone, from: a)
            await self.expectError(.notFound) { _ = try await first.heartbeatAgent(drone, expectedRelayID: a) }
            #expect(try await first.syncRelay(try self.sync("relay-a", endpoint: false, renew: ["drone-1"])).lost.map(\.reason) == [.notLive])
        }
    }

    @Test("deregistering a relay of 1,000 agents is one read, one transaction, a paged read and chunked deletes")
    func deregistrationRoundTrips() async throws {
        try await self.withBackends { first, _, _ in
            let agents = (0..<1_000).map { String(format: "drone-%05d", $0) }
            _ = try await first.syncRelay(try self.sync("relay-a", place: agents))
            _ = try await first.syncRelay(try self.sync("relay-b", place: ["other"]))
            let before = first.client.calls.load(ordering: .relaxed)
            #expect(try await first.deregisterRelay(try RelayID(validating: "relay-a")) == 1_000)
            let calls = first.client.calls.load(ordering: .relaxed) - before
            let chunks = (agents.count + EtcdBackend<ManualClock>.agentsPerTransaction - 1) / EtcdBackend<ManualClock>.agentsPerTransaction
            #expect(calls == 3 + chunks, "\(calls) calls")
            // Their keys are gone, the other relay's agent stays.
            let (kvs, _) = try await first.readPrefix(first.keys.agentPrefix)
            #expect(kvs.compactMap { first.keys.agentID(fromKey: $0.key)?.rawValue } == ["other"])
        }
    }

    @Test("a drain mark an earlier incarnation left means nothing; a deregistration removes the relay's own")
    func staleDrainMarks() async throws {
        try await self.withBackends { first, second, clock in
            let a = try RelayID(validating: "relay-a")
            _ = try await first.registerRelay(RelayRegistration(id: a, endpoint: Self.endpoint))
            // A drain mark left by an earlier incarnation (its relay key gone without it) means nothing.
            try await first.setDraining(a, true)
            let relayKey = first.keys.key(of: a)
            _ = try await first.client.txn(.with { $0.success = [EtcdOperation.delete(relayKey)] }, by: first.client.operationDeadline())
            let started = try await second.registerRelay(RelayRegistration(id: a, endpoint: Self.endpoint))
            #expect(started.outcome == .created)
            #expect(try await first.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [false])
            _ = try await first.registerAgent(try AgentID(validating: "drone-1"), on: a)
            // Draining it replaces the stale mark with its own.
            try await second.setDraining(a, true)
            #expect(try await first.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [true])
            await self.expectError(.failedPrecondition) { _ = try await first.registerAgent(try AgentID(validating: "drone-2"), on: a) }

            clock.advance(by: .seconds(1))
            #expect(try await first.deregisterRelay(a) == 1)
            await self.expectError(.notFound) { _ = try await second.deregisterRelay(a) }
            await self.expectError(.notFound) { try await second.setDraining(a, false) }
            let (drains, _) = try await first.readPrefix(first.keys.drainPrefix)
            #expect(drains.isEmpty)
        }
    }

    @Test("a sync's write refused because its relay ended loses the rest as not live instead of retrying")
    func syncAfterTheRelayEnded() async throws {
        try await self.withBackends { first, second, clock in
            let a = try RelayID(validating: "relay-a")
            let drone = try AgentID(validating: "drone-1")
            let synced = try await first.syncRelay(try self.sync("relay-a", place: ["drone-1"]))
            let relay = try await first.upsertRelay(a, endpoint: nil, by: first.client.operationDeadline())
            let key = first.keys.key(of: drone)
            let seen = try #require(try await first.read(key, by: first.client.operationDeadline()))
            _ = try await second.deregisterRelay(a)

            let now = clock.now().rawValue
            let incarnation = Int64(synced.incarnation.rawValue)
            let relayKey = first.keys.key(of: a)
            let record = AgentRecord(deadline: now + 30_000, lastHeartbeat: now, relayIncarnation: incarnation, relayID: a)
            let write = AgentPlacementWrite(
                value: record.encoded(),
                lease: relay.lease,
                relayGuards: [EtcdCompare.created(relayKey, at: incarnation), EtcdCompare.live(relayKey, at: now)],
                relayKeys: [relayKey, first.keys.drainKey(of: a)]
            )
            let chunk = SyncChunk(entries: [.init(agent: 0, key: key, step: .write(EtcdCompare.unmodified(key, since: seen.modRevision)))])
            guard case .ran(let results, let relaySeen) = try await first.run(chunk, writing: write), case .seen = results.first else {
                Issue.record("the write on an ended incarnation was not refused")
                return
            }
            #expect(relaySeen?.ended(incarnation: incarnation, now: now) == true)
        }
    }
}
