import Logging
@testable import RegistryBackendMemory
import RegistryCore
import RegistryTestKit
import Synchronization
import Testing

/// A monotonic clock that only moves when a test moves it.
final class ManualMonotonicClock: MonotonicClockSource {
    private let current = Mutex<UInt64>(5_000_000_000)

    func nowNanoseconds() -> UInt64 {
        self.current.withLock { $0 }
    }

    func advance(by duration: Duration) {
        self.current.withLock { $0 += duration.wholeNanoseconds }
    }
}

/// A memory backend with both its clocks manual, and its ticker driven by hand.
struct StallFixture {
    let wall = ManualClock()
    let monotonic = ManualMonotonicClock()
    let backend: MemoryBackend<ManualClock>
    let logged: LoggedLines
    let relay: RelayID
    let agent: AgentID

    /// The lines the backend logged.
    final class LoggedLines: LogHandler, @unchecked Sendable {
        // A class so that every copy of the handler appends to the same list; the list is
        // behind a mutex.
        private let lines = Mutex<[String]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        func log(event: LogEvent) {
            let metadata = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            self.lines.withLock { $0.append(([event.message.description] + metadata).joined(separator: " ")) }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        var all: [String] {
            self.lines.withLock { $0 }
        }
    }

    /// TTL 3 s for relays and agents; the ticker has ticked once (as `run()` does on start).
    init(graceMax: Duration, ttl: Duration = .seconds(3)) throws {
        let logged = LoggedLines()
        self.logged = logged
        self.backend = MemoryBackend(
            ttl: try TTLPolicy(relayTTL: ttl, agentTTL: ttl),
            clock: self.wall,
            outageGraceMax: graceMax,
            monotonicClock: self.monotonic,
            logger: Logger(label: "memory-stall-test") { _ in logged }
        )
        self.relay = try RelayID(validating: "relay-1")
        self.agent = try AgentID(validating: "drone-1")
        self.backend.tick()
    }

    /// Registers `relay` and `agent` on it, then lets `before` pass normally.
    func registerFleet(thenRunFor before: Duration = .zero) async throws {
        _ = try await self.backend.registerRelay(
            RelayRegistration(id: self.relay, endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000))
        )
        _ = try await self.backend.registerAgent(self.agent, on: self.relay)
        self.runNormally(for: before)
    }

    /// Time passes with the process running: the ticker ticks every 100 ms.
    func runNormally(for duration: Duration) {
        var left = duration
        while left > .zero {
            let step = min(left, .milliseconds(100))
            self.wall.advance(by: step)
            self.monotonic.advance(by: step)
            self.backend.tick()
            left -= step
        }
    }

    /// Time passes with the process stopped: both clocks move, nothing observes them.
    func stall(for duration: Duration) {
        self.wall.advance(by: duration)
        self.monotonic.advance(by: duration)
    }

    func relayIsLive() async throws -> Bool {
        try await self.backend.listRelays().entries.contains { $0.id == self.relay }
    }

    func agentIsLive() async throws -> Bool {
        let listed = try await self.backend.listAgents().entries.contains { $0.id == self.agent }
        let placed = (try? await self.backend.placement(of: self.agent)) != nil
        #expect(listed == placed, "listAgents and placement(of:) must agree")
        return listed && placed
    }

    /// The relay's time left, as the fleet API reports it.
    func relayTimeLeft() async throws -> Duration? {
        let page = try await self.backend.listRelayStatuses(after: nil, limit: 10)
        guard let status = page.entries.first(where: { $0.relay.id == self.relay }) else { return nil }
        return status.expires.duration(since: page.asOf)
    }

    /// The agent's time left, as the fleet API reports it.
    func agentTimeLeft() async throws -> Duration? {
        let lookup = try await self.backend.placements(of: [self.agent])
        guard let placement = lookup.placements.first else { return nil }
        return placement.expires.duration(since: lookup.asOf)
    }
}

@Suite("Memory backend outage grace (MemoryStall)")
struct MemoryStallTests {
    @Test("MemoryStall: entries live when a 7 s stall began keep their time left, then expire normally")
    func stallKeepsTimeLeft() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10))
        try await fixture.registerFleet(thenRunFor: .seconds(1))
        let relayBefore = try await fixture.backend.listRelays().entries.first
        #expect(try await fixture.relayTimeLeft() == .seconds(2))

        fixture.stall(for: .seconds(7))

        #expect(try await fixture.relayIsLive())
        #expect(try await fixture.agentIsLive())
        #expect(try await fixture.relayTimeLeft() == .seconds(2))
        #expect(try await fixture.agentTimeLeft() == .seconds(2))
        // The reported heartbeat is the real one: the extension is kept apart.
        #expect(try await fixture.backend.listRelays().entries.first == relayBefore)
        #expect(fixture.logged.all.count == 1)
        #expect(fixture.logged.all.first?.contains("grace_ms=7000") == true)
        #expect(fixture.logged.all.first?.contains("stall_ms=7000") == true)

        fixture.runNormally(for: .milliseconds(1_900))
        #expect(try await fixture.relayIsLive())
        #expect(try await fixture.agentIsLive())
        fixture.runNormally(for: .milliseconds(100))
        #expect(try await !fixture.relayIsLive())
        #expect(try await !fixture.agentIsLive())
        // The expiry index moved with the deadline: reclaimed at the new one, not before.
        fixture.runNormally(for: .milliseconds(100))
        #expect(try await fixture.backend.removeExpired(limit: 10) == ExpiryReport(relaysRemoved: 1, agentsRemoved: 1))
        #expect(fixture.backend.storedCounts == (0, 0))
    }

    @Test("MemoryStall: extended entries are not reclaimed before their new deadline")
    func sweepRespectsExtension() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10))
        try await fixture.registerFleet(thenRunFor: .seconds(1))
        fixture.stall(for: .seconds(7))
        // The sweep itself is the first observation after the stall.
        #expect(try await fixture.backend.removeExpired(limit: 10) == ExpiryReport())
        fixture.runNormally(for: .milliseconds(1_900))
        #expect(try await fixture.backend.removeExpired(limit: 10) == ExpiryReport())
        #expect(fixture.backend.storedCounts == (1, 1))
    }

    @Test("MemoryStall: grace is bounded: 2.5 s left, 7 s stall, 2 s grace max: dead after the stall")
    func graceIsBounded() async throws {
        let fixture = try StallFixture(graceMax: .seconds(2))
        try await fixture.registerFleet(thenRunFor: .milliseconds(500))
        #expect(try await fixture.relayTimeLeft() == .milliseconds(2_500))

        fixture.stall(for: .seconds(7))

        #expect(try await !fixture.relayIsLive())
        #expect(try await !fixture.agentIsLive())
        #expect(fixture.logged.all.first?.contains("grace_ms=2000") == true)
        // It expired exactly grace max late: at stall start + 2.5 s + 2 s.
        await #expect(throws: RegistryError.self) { try await fixture.backend.heartbeatRelay(fixture.relay) }
    }

    @Test("MemoryStall: a relay that died during the stall expires at most grace max late")
    func diedDuringStallExpiresAtMostGraceLate() async throws {
        let fixture = try StallFixture(graceMax: .seconds(2))
        try await fixture.registerFleet(thenRunFor: .milliseconds(500))
        fixture.stall(for: .seconds(3))
        // 2.5 s left at the start, plus 2 s of grace: 1.5 s left after a 3 s stall.
        #expect(try await fixture.relayTimeLeft() == .milliseconds(1_500))
        fixture.runNormally(for: .milliseconds(1_400))
        #expect(try await fixture.relayIsLive())
        fixture.runNormally(for: .milliseconds(100))
        #expect(try await !fixture.relayIsLive())
        #expect(try await !fixture.agentIsLive())
    }

    @Test("MemoryStall: entries already expired when the stall began stay dead")
    func expiredStayDead() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10))
        let other = try AgentID(validating: "drone-2")
        try await fixture.registerFleet(thenRunFor: .seconds(2))
        // A second relay keeps the first one's agent company; the first relay expires.
        let living = try RelayID(validating: "relay-2")
        _ = try await fixture.backend.registerRelay(
            RelayRegistration(id: living, endpoint: try RelayEndpoint(address: "10.0.0.2", grpcPort: 7000))
        )
        _ = try await fixture.backend.registerAgent(other, on: living)
        fixture.runNormally(for: .seconds(1))
        // relay-1 and drone-1 expired at the 3 s mark; relay-2 and drone-2 have 2 s left.
        #expect(try await !fixture.relayIsLive())

        fixture.stall(for: .seconds(7))

        #expect(try await !fixture.relayIsLive())
        #expect(try await !fixture.agentIsLive())
        await #expect(throws: RegistryError.self) { try await fixture.backend.heartbeatRelay(fixture.relay) }
        #expect(try await fixture.backend.listRelays().entries.map(\.id) == [living])
        #expect(try await fixture.backend.listAgents().entries.map(\.id) == [other])
        // Not extended either: the sweep reclaims them at once (an extension would also have
        // ended by now, since grace never exceeds the stall, but would delay reclaiming).
        fixture.runNormally(for: .milliseconds(100))
        #expect(try await fixture.backend.removeExpired(limit: 10) == ExpiryReport(relaysRemoved: 1, agentsRemoved: 1))
        // The expired relay comes back only anew (its old incarnation was reclaimed), without its old agent.
        let again = try await fixture.backend.registerRelay(
            RelayRegistration(id: fixture.relay, endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000))
        )
        #expect(again.outcome == .created)
        #expect(try await !fixture.agentIsLive())
    }

    @Test("MemoryStall: an agent live at the start whose relay was not stays dead")
    func agentOfDeadRelayStaysDead() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10), ttl: .seconds(3))
        try await fixture.registerFleet(thenRunFor: .seconds(2))
        // Renewing the agent alone does not keep it live past its relay.
        _ = try await fixture.backend.heartbeatAgent(fixture.agent, expectedRelayID: nil)
        fixture.runNormally(for: .seconds(1))
        #expect(try await !fixture.relayIsLive())
        fixture.stall(for: .seconds(1) + .milliseconds(500))
        #expect(try await !fixture.agentIsLive())
        #expect(try await fixture.agentTimeLeft() == nil)
    }

    @Test("MemoryStall: a quiet fleet is not an outage: 10 s of ticks, no requests, entries expire on time")
    func quietFleetIsNotAnOutage() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10))
        try await fixture.registerFleet()
        fixture.runNormally(for: .milliseconds(2_900))
        #expect(try await fixture.relayIsLive())
        fixture.runNormally(for: .milliseconds(7_100))
        #expect(try await !fixture.relayIsLive())
        #expect(try await !fixture.agentIsLive())
        #expect(fixture.logged.all.isEmpty)
    }

    @Test("MemoryStall: without a running ticker a long gap between requests is not a stall")
    func noTickerNoStall() async throws {
        let wall = ManualClock()
        let monotonic = ManualMonotonicClock()
        // Never ticked: as when run() is not running.
        let backend = MemoryBackend(
            ttl: try TTLPolicy(relayTTL: .seconds(3), agentTTL: .seconds(3)),
            clock: wall,
            outageGraceMax: .seconds(10),
            monotonicClock: monotonic
        )
        let relay = try RelayID(validating: "relay-1")
        _ = try await backend.registerRelay(RelayRegistration(id: relay, endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)))
        wall.advance(by: .seconds(10))
        monotonic.advance(by: .seconds(10))
        #expect(try await backend.listRelays().entries.isEmpty)
    }

    @Test("MemoryStall: entries renewed after the stall get last heartbeat + TTL, no extension carried over")
    func renewedAfterStall() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10))
        try await fixture.registerFleet(thenRunFor: .seconds(1))
        fixture.stall(for: .seconds(7))
        fixture.runNormally(for: .seconds(1))
        // 1 s left; renewing gives exactly the TTL again.
        let relay = try await fixture.backend.heartbeatRelay(fixture.relay)
        let placement = try await fixture.backend.heartbeatAgent(fixture.agent, expectedRelayID: fixture.relay)
        #expect(relay.lastHeartbeat == fixture.wall.now())
        #expect(placement.lastUpdated == fixture.wall.now())
        #expect(try await fixture.relayTimeLeft() == .seconds(3))
        #expect(try await fixture.agentTimeLeft() == .seconds(3))
        fixture.runNormally(for: .milliseconds(2_900))
        #expect(try await fixture.agentIsLive())
        fixture.runNormally(for: .milliseconds(100))
        #expect(try await !fixture.relayIsLive())
        #expect(try await !fixture.agentIsLive())
    }

    @Test("MemoryStall: entries renewed through SyncRelay after the stall carry no extension")
    func syncedAfterStall() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10))
        try await fixture.registerFleet(thenRunFor: .seconds(1))
        fixture.stall(for: .seconds(7))
        let result = try await fixture.backend.syncRelay(RelaySync(relayID: fixture.relay, endpoint: nil, place: [], renew: [fixture.agent]))
        #expect(result.lost.isEmpty)
        #expect(result.relayExpires == fixture.wall.now().advanced(by: .seconds(3)))
        #expect(try await fixture.agentTimeLeft() == .seconds(3))
    }

    @Test("MemoryStall: grace is applied before the first request after the stall is judged")
    func graceBeforeFirstRequest() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10))
        try await fixture.registerFleet(thenRunFor: .seconds(1))
        fixture.stall(for: .seconds(7))
        // No tick yet: the heartbeat itself notices the stall.
        let relay = try await fixture.backend.heartbeatRelay(fixture.relay)
        #expect(relay.lastHeartbeat == fixture.wall.now())
        let placement = try await fixture.backend.heartbeatAgent(fixture.agent, expectedRelayID: fixture.relay)
        #expect(placement.relayID == fixture.relay)
        #expect(fixture.logged.all.count == 1)
    }

    @Test("MemoryStall: two stalls without renewal each give their own grace")
    func twoStalls() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10))
        try await fixture.registerFleet(thenRunFor: .seconds(1))
        fixture.stall(for: .seconds(4))
        #expect(try await fixture.relayTimeLeft() == .seconds(2))
        fixture.runNormally(for: .seconds(1))
        fixture.stall(for: .seconds(5))
        #expect(try await fixture.relayTimeLeft() == .seconds(1))
        #expect(fixture.logged.all.count == 2)
    }

    @Test("MemoryStall: a gap at or under the threshold is not a stall")
    func shortGapIsNotAStall() async throws {
        let fixture = try StallFixture(graceMax: .seconds(10))
        try await fixture.registerFleet(thenRunFor: .seconds(2))
        fixture.stall(for: .seconds(1))
        #expect(try await !fixture.relayIsLive())
        #expect(fixture.logged.all.isEmpty)
    }

    @Test("MemoryStall: run() ticks until cancelled, then stalls are no longer detected")
    func runTicksUntilCancelled() async throws {
        let wall = ManualClock()
        let monotonic = ManualMonotonicClock()
        let backend = MemoryBackend(
            ttl: try TTLPolicy(relayTTL: .seconds(3), agentTTL: .seconds(3)),
            clock: wall,
            outageGraceMax: .seconds(10),
            monotonicClock: monotonic,
            tickInterval: .milliseconds(10)
        )
        let relay = try RelayID(validating: "relay-1")
        let endpoint = try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)
        #expect(!backend.detectsStalls)
        let running = Task { try await backend.run() }
        while !backend.detectsStalls {
            try await Task.sleep(for: .milliseconds(10))
        }
        _ = try await backend.registerRelay(RelayRegistration(id: relay, endpoint: endpoint))
        // The monotonic clock first, so that a real tick in between sees the stall at once.
        monotonic.advance(by: .seconds(7))
        wall.advance(by: .seconds(7))
        #expect(try await backend.listRelays().entries.map(\.id) == [relay])
        running.cancel()
        try await running.value
        #expect(!backend.detectsStalls)
        // Stopped: a gap is no longer evidence of a stall.
        monotonic.advance(by: .seconds(7))
        wall.advance(by: .seconds(7))
        #expect(try await backend.listRelays().entries.isEmpty)
    }

    @Test("MemoryStall: grace 0 (off): a stall expires entries as before")
    func graceOff() async throws {
        let fixture = try StallFixture(graceMax: .zero)
        try await fixture.registerFleet(thenRunFor: .seconds(1))
        fixture.stall(for: .seconds(7))
        #expect(try await !fixture.relayIsLive())
        #expect(try await !fixture.agentIsLive())
        await #expect(throws: RegistryError.self) { try await fixture.backend.heartbeatRelay(fixture.relay) }
        #expect(fixture.logged.all.isEmpty)
    }
}

@Suite("Memory stall detector (MemoryStall)")
struct StallDetectorTests {
    @Test("MemoryStall: reports a gap over the threshold once, starting at the last observation's wall time")
    func reportsOnce() {
        var detector = StallDetector(threshold: .seconds(1))
        #expect(detector.observe(monotonic: 0, wall: 0) == nil)  // not armed
        detector.arm(monotonic: 1_000_000_000, wall: 50_000)
        #expect(detector.observe(monotonic: 1_100_000_000, wall: 50_100) == nil)
        #expect(detector.observe(monotonic: 2_100_000_000, wall: 51_100) == nil)  // exactly the threshold
        let stall = detector.observe(monotonic: 9_100_000_000, wall: 58_100)
        #expect(stall == StallDetector.Stall(lengthNanoseconds: 7_000_000_000, startedAt: 51_100))
        #expect(detector.observe(monotonic: 9_100_000_000, wall: 58_100) == nil)
        // Out-of-order readings from concurrent callers are not stalls.
        #expect(detector.observe(monotonic: 9_000_000_000, wall: 58_000) == nil)
        detector.disarm()
        #expect(detector.observe(monotonic: 99_000_000_000, wall: 148_000) == nil)
    }
}

@Suite("Memory state outage grace (MemoryStall)")
struct MemoryStateOutageGraceTests {
    @Test("MemoryStall: applyOutageGrace keeps the expiry indexes in step")
    func indexesInStep() throws {
        var state = MemoryRegistryState(ttl: try TTLPolicy(relayTTL: .seconds(3), agentTTL: .seconds(3)), limits: CapacityLimits())
        let endpoint = try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)
        for relay in 0..<10 {
            _ = try state.registerRelay(RelayRegistration(id: try RelayID(validating: "r\(relay)"), endpoint: endpoint), now: Int64(relay) * 500)
            _ = try state.registerAgent(try AgentID(validating: "a\(relay)"), on: try RelayID(validating: "r\(relay)"), now: Int64(relay) * 500)
        }
        // At 4_000 the entries registered at 0, 500 and 1_000 have expired.
        state.applyOutageGrace(startedAt: 4_000, grace: 10_000)
        #expect(state.liveRelays(now: 11_000).count == 7)
        #expect(state.removeExpired(now: 11_000, limit: 100) == ExpiryReport(relaysRemoved: 3, agentsRemoved: 3))
        #expect(state.indexedCounts == (7, 7))
        // The last one (registered at 4_500) now expires at 17_500.
        #expect(state.removeExpired(now: 17_500, limit: 100) == ExpiryReport(relaysRemoved: 6, agentsRemoved: 6))
        #expect(state.liveRelays(now: 17_499).count == 1)
        #expect(state.removeExpired(now: 17_600, limit: 100) == ExpiryReport(relaysRemoved: 1, agentsRemoved: 1))
        #expect(state.indexedCounts == (0, 0))
        #expect(state.orderedCounts == (0, 0))
    }
}
