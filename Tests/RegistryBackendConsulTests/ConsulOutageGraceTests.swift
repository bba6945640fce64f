import Foundation
@testable import RegistryBackendConsul
import RegistryCore
import RegistryTestKit
import Testing

/// Outage grace on the Consul backend (docs/degraded-operation.md), against the double with
/// a manual clock: Consul refuses connections while the clock moves by the outage's length.
/// TTLs are 3 s; every time below is registry time.
@Suite("Outage grace on Consul")
struct ConsulOutageGraceTests {
    static let ttl = try! TTLPolicy(relayTTL: .seconds(3), agentTTL: .seconds(3))
    static let keys = ConsulKeySchema(prefix: ConsulConfiguration.defaultKeyPrefix)

    /// A double and `replicas` backends on it, all on one manual clock, with `graceMax`.
    func withGrace(
        _ graceMax: Duration,
        replicas: Int = 1,
        _ body: (ConsulDouble, [ConsulBackend<ManualClock>], ManualClock) async throws -> Void
    ) async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with(clock: harness.clock) { double in
            var configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address), timeout: .seconds(1))
            configuration.outageGraceMax = graceMax
            try await harness.withBackend(configuration, ttl: Self.ttl) { first in
                if replicas == 1 {
                    try await body(double, [first], harness.clock)
                } else {
                    try await harness.withBackend(configuration, ttl: Self.ttl) { second in
                        try await body(double, [first, second], harness.clock)
                    }
                }
            }
        }
    }

    /// Consul refuses connections; each of `failing` fails a call (the evidence of the
    /// outage); the clock moves by `length`; Consul is back.
    func outage(
        of length: Duration,
        _ double: ConsulDouble,
        _ clock: ManualClock,
        failing: [ConsulBackend<ManualClock>]
    ) async throws {
        try await double.inject(.refuseConnections)
        for backend in failing {
            await expectUnavailable { try await backend.listRelays() }
        }
        clock.advance(by: length)
        try await double.inject(nil)
    }

    /// The relay's deadline minus now, as the backend reports it; nil when not live.
    func relayTimeLeft(_ id: String, _ backend: ConsulBackend<ManualClock>, _ clock: ManualClock) async throws -> Duration? {
        let statuses = try await backend.listRelayStatuses(after: nil, limit: 1_000).entries
        return statuses.first { $0.relay.id.rawValue == id }.map { .milliseconds($0.expires.rawValue - clock.now().rawValue) }
    }

    /// The agent's stored deadline minus now, read from the double; nil when absent.
    func agentTimeLeft(_ id: String, _ double: ConsulDouble, _ clock: ManualClock) throws -> Duration? {
        guard let bytes = double.store.entries[Self.keys.agent(agentID(id))]?.value else { return nil }
        let record = try JSONDecoder().decode(ConsulAgentRecord.self, from: Data(bytes))
        return .milliseconds(record.expiresMilliseconds - clock.now().rawValue)
    }

    func expectNotFound<T>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async {
        do {
            let value = try await body()
            Issue.record("expected not found, got \(value)", sourceLocation: sourceLocation)
        } catch let error as RegistryError {
            #expect(error.code == .notFound, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected a RegistryError, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a 7 s outage with a 10 s bound costs nobody any TTL: heartbeats after it succeed, and the rest keep the time they had")
    func outageWithinBound() async throws {
        try await self.withGrace(.seconds(10)) { double, backends, clock in
            let backend = backends[0]
            _ = try await backend.registerRelay(registration("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            _ = try await backend.registerRelay(registration("relay-b"))
            _ = try await backend.registerAgent(agentID("agent-2"), on: relayID("relay-b"))
            clock.advance(by: .seconds(1))  // 2 s left each when the outage begins

            try await self.outage(of: .seconds(7), double, clock, failing: [backend])

            // The fleet's first calls after the outage.
            _ = try await backend.heartbeatRelay(relayID("relay-a"))
            let placement = try await backend.heartbeatAgent(agentID("agent-1"), expectedRelayID: relayID("relay-a"))
            #expect(placement.relayID == relayID("relay-a"))
            // Not renewed since: the time they had left when the outage began.
            #expect(try await self.relayTimeLeft("relay-b", backend, clock) == .seconds(2))
            #expect(try self.agentTimeLeft("agent-2", double, clock) == .seconds(2))
            #expect(try await backend.placement(of: agentID("agent-2")).relayID == relayID("relay-b"))
            // Renewed: heartbeat plus the TTL.
            #expect(try await self.relayTimeLeft("relay-a", backend, clock) == .seconds(3))
            #expect(try self.agentTimeLeft("agent-1", double, clock) == .seconds(3))
            #expect(!double.store.entries.keys.filter { $0.hasSuffix("grace-until") }.isEmpty)
        }
    }

    @Test("grace is bounded: with a 2 s bound, 2.5 s left and a 3 s outage leave 1.5 s; a 7 s outage leaves it dead")
    func graceIsBounded() async throws {
        try await self.withGrace(.seconds(2)) { double, backends, clock in
            let backend = backends[0]
            _ = try await backend.registerRelay(registration("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            clock.advance(by: .milliseconds(500))  // 2.5 s left

            try await self.outage(of: .seconds(3), double, clock, failing: [backend])
            // 2.5 s + min(3 s, 2 s) - 3 s: unbounded grace would leave 2.5 s, none would leave it dead.
            #expect(try await self.relayTimeLeft("relay-a", backend, clock) == .milliseconds(1_500))
            #expect(try self.agentTimeLeft("agent-1", double, clock) == .milliseconds(1_500))
            #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-a"))

            _ = try await backend.registerRelay(registration("relay-b"))
            _ = try await backend.registerAgent(agentID("agent-2"), on: relayID("relay-b"))
            clock.advance(by: .milliseconds(500))  // 2.5 s left

            try await self.outage(of: .seconds(7), double, clock, failing: [backend])
            // 2.5 s + 2 s < 7 s: a relay that died during the outage expires at most 2 s late.
            await self.expectNotFound { try await backend.heartbeatRelay(relayID("relay-b")) }
            await self.expectNotFound { try await backend.heartbeatAgent(agentID("agent-2"), expectedRelayID: relayID("relay-b")) }
            #expect(try await backend.relayIDs().isEmpty)
        }
    }

    @Test("entries expired before the outage stay dead; entries renewed after it get heartbeat plus TTL, no grace")
    func expiredStayDeadRenewedAreNotExtended() async throws {
        try await self.withGrace(.seconds(10), replicas: 2) { double, backends, clock in
            let (backend, other) = (backends[0], backends[1])
            _ = try await backend.registerRelay(registration("relay-old"))
            _ = try await backend.registerAgent(agentID("agent-old"), on: relayID("relay-old"))
            clock.advance(by: .milliseconds(3_500))  // relay-old and agent-old expired
            _ = try await backend.registerRelay(registration("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            clock.advance(by: .seconds(1))

            // Only `backend` sees the outage; `other` makes no call during it.
            try await self.outage(of: .seconds(7), double, clock, failing: [backend])
            _ = try await other.registerRelay(registration("relay-new"))
            _ = try await other.registerAgent(agentID("agent-new"), on: relayID("relay-new"))
            clock.advance(by: .milliseconds(500))

            // The first call of the replica that saw the outage.
            _ = try await backend.heartbeatRelay(relayID("relay-a"))
            #expect(try await self.relayTimeLeft("relay-a", backend, clock) == .seconds(3))
            #expect(try self.agentTimeLeft("agent-1", double, clock) == .seconds(2))
            // Registered after the outage: heartbeat + TTL, 0.5 s ago.
            #expect(try await self.relayTimeLeft("relay-new", backend, clock) == .milliseconds(2_500))
            #expect(try self.agentTimeLeft("agent-new", double, clock) == .milliseconds(2_500))
            // Expired before it: dead.
            await self.expectNotFound { try await backend.heartbeatRelay(relayID("relay-old")) }
            await self.expectNotFound { try await backend.placement(of: agentID("agent-old")) }
            #expect(try await backend.relayIDs() == ["relay-a", "relay-new"])
        }
    }

    @Test("a quiet fleet is not an outage: without failed calls entries expire on time, and a granted grace is not granted again")
    func quietFleetExpiresOnTime() async throws {
        try await self.withGrace(.seconds(10)) { double, backends, clock in
            let backend = backends[0]
            _ = try await backend.registerRelay(registration("relay-q"))
            clock.advance(by: .milliseconds(3_100))  // nobody calls for longer than the TTL
            #expect(try await backend.relayIDs().isEmpty)
            await self.expectNotFound { try await backend.heartbeatRelay(relayID("relay-q")) }

            _ = try await backend.registerRelay(registration("relay-a"))
            clock.advance(by: .seconds(1))
            try await self.outage(of: .seconds(7), double, clock, failing: [backend])
            #expect(try await self.relayTimeLeft("relay-a", backend, clock) == .seconds(2))
            // Quiet again: relay-a expires at its extended deadline, no later.
            clock.advance(by: .milliseconds(1_900))
            #expect(try await backend.relayIDs() == ["relay-a"])
            clock.advance(by: .milliseconds(100))
            #expect(try await backend.relayIDs().isEmpty)
        }
    }

    @Test("a failed health probe alone is evidence of an outage")
    func probeOpensOutage() async throws {
        try await self.withGrace(.seconds(10)) { double, backends, clock in
            let backend = backends[0]
            _ = try await backend.registerRelay(registration("relay-a"))
            clock.advance(by: .seconds(1))
            try await double.inject(.refuseConnections)
            await backend.probe()
            #expect(!backend.health.status.isServing)
            clock.advance(by: .seconds(7))
            try await double.inject(nil)
            _ = try await backend.heartbeatRelay(relayID("relay-a"))
            #expect(backend.health.status == .serving)
        }
    }

    @Test("the sweeper's first pass after the outage runs after the grace: it removes only what expired before the outage")
    func sweeperWaitsForGrace() async throws {
        try await self.withGrace(.seconds(10)) { double, backends, clock in
            let backend = backends[0]
            _ = try await backend.registerRelay(registration("relay-old"))
            _ = try await backend.registerAgent(agentID("agent-old"), on: relayID("relay-old"))
            clock.advance(by: .milliseconds(3_500))
            _ = try await backend.registerRelay(registration("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            clock.advance(by: .seconds(1))

            try await self.outage(of: .seconds(7), double, clock, failing: [backend])

            let report = try await backend.removeExpired(limit: 100)
            #expect(report == ExpiryReport(relaysRemoved: 1, agentsRemoved: 1))
            #expect(try await backend.relayIDs() == ["relay-a"])
            #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-a"))
            _ = try await backend.heartbeatRelay(relayID("relay-a"))
        }
    }

    @Test("two replicas through the same outage grant the grace once, not once each")
    func twoReplicasGrantOnce() async throws {
        try await self.withGrace(.seconds(10), replicas: 2) { double, backends, clock in
            let (one, two) = (backends[0], backends[1])
            _ = try await one.registerRelay(registration("relay-a"))
            _ = try await one.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            clock.advance(by: .seconds(1))

            try await self.outage(of: .seconds(7), double, clock, failing: [one, two])

            #expect(try await self.relayTimeLeft("relay-a", one, clock) == .seconds(2))
            #expect(try await self.relayTimeLeft("relay-a", two, clock) == .seconds(2))
            #expect(try self.agentTimeLeft("agent-1", double, clock) == .seconds(2))
            // Both outages are closed: later calls change nothing.
            #expect(!one.outages.isOpen && !two.outages.isOpen)
            clock.advance(by: .milliseconds(1_999))
            #expect(try await two.relayIDs() == ["relay-a"])
            clock.advance(by: .milliseconds(1))
            #expect(try await one.relayIDs().isEmpty)
        }
    }

    @Test("the other replica grants only the part of its window after the first one's grant")
    func overlappingWindowsCountOnce() async throws {
        try await self.withGrace(.seconds(10), replicas: 2) { double, backends, clock in
            let (one, two) = (backends[0], backends[1])
            _ = try await one.registerRelay(registration("relay-a"))
            clock.advance(by: .seconds(1))
            try await self.outage(of: .seconds(7), double, clock, failing: [one, two])
            #expect(try await self.relayTimeLeft("relay-a", one, clock) == .seconds(2))
            // `two` reaches Consul 0.5 s later: for all it knows, the outage lasted that much longer.
            clock.advance(by: .milliseconds(500))
            #expect(try await self.relayTimeLeft("relay-a", two, clock) == .seconds(2))
        }
    }

    @Test("replicas ending the same outage at the same moment grant once; a renewal racing the grace keeps heartbeat plus TTL")
    func concurrentGrantsAndRenewals() async throws {
        try await self.withGrace(.seconds(10), replicas: 2) { double, backends, clock in
            let (one, two) = (backends[0], backends[1])
            for round in 0..<10 {
                let relays = (0..<20).map { "relay-\(round)-\($0)" }
                for relay in relays {
                    _ = try await one.registerRelay(registration(relay))
                }
                clock.advance(by: .seconds(1))
                // A 1 s outage leaves every relay live even without grace, so `two` can
                // renew one while `one` grants: in even rounds `two` saw the outage too (two
                // grants race on grace-until), in odd ones it did not (its renewal races
                // `one`'s cas on the relay).
                try await self.outage(of: .seconds(1), double, clock, failing: round.isMultiple(of: 2) ? [one, two] : [one])
                async let granted = one.listRelays()
                async let renewed = two.heartbeatRelay(relayID(relays[0]))
                _ = try await (granted, renewed)
                #expect(try await self.relayTimeLeft(relays[0], two, clock) == .seconds(3), "round \(round)")
                for relay in relays.dropFirst() {
                    #expect(try await self.relayTimeLeft(relay, one, clock) == .seconds(2), "round \(round): \(relay)")
                }
                clock.advance(by: .seconds(4))  // every relay of this round expires
            }
        }
    }

    @Test("grace is one recursive read and one transaction per 64 writes, whatever the number of entries")
    func boundedRoundTrips() async throws {
        try await self.withGrace(.seconds(10)) { double, backends, clock in
            let backend = backends[0]
            _ = try await backend.registerRelay(registration("relay-a"))
            let agents = (0..<150).map { "agent-\($0)" }
            for agent in agents {
                _ = try await backend.registerAgent(agentID(agent), on: relayID("relay-a"))
            }
            clock.advance(by: .seconds(1))
            try await self.outage(of: .seconds(7), double, clock, failing: [backend])
            let before = double.requestCount

            _ = try await backend.placement(of: agentID("agent-0"))

            let requests = double.requestLog.dropFirst(before)
            // grace-until, 1 relay and 150 agents: 152 writes in 3 transactions.
            #expect(requests.count { $0.hasPrefix("PUT /v1/txn") } == 3, "\(requests)")
            #expect(requests.count { $0.contains("recurse") } == 1, "\(requests)")
            for agent in agents {
                #expect(try self.agentTimeLeft(agent, double, clock) == .seconds(2), "\(agent)")
            }
        }
    }

    @Test("with grace off (bound 0) the same outage expires the fleet")
    func graceOff() async throws {
        try await self.withGrace(.zero) { double, backends, clock in
            let backend = backends[0]
            _ = try await backend.registerRelay(registration("relay-a"))
            clock.advance(by: .seconds(1))
            try await self.outage(of: .seconds(7), double, clock, failing: [backend])
            await self.expectNotFound { try await backend.heartbeatRelay(relayID("relay-a")) }
            #expect(!backend.outages.isOpen)
        }
    }
}
