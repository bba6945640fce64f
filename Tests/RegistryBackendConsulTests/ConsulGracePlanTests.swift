import Foundation
@testable import RegistryBackendConsul
import RegistryCore
import Testing

/// The pure parts of outage grace on Consul: which entries one application extends and by
/// how much, and when an outage began in registry time.
@Suite("Consul outage grace plan")
struct ConsulGracePlanTests {
    static let keys = ConsulKeySchema(prefix: "p/")
    static let coder = ConsulRecordCoder()

    static func relayEntry(_ id: String, heartbeat: Int64, expires: Int64, index: UInt64) throws -> ConsulKVEntry {
        let record = ConsulRelayRecord(address: "10.0.0.1", grpcPort: 7000, heartbeatMilliseconds: heartbeat, expiresMilliseconds: expires)
        let value = try Self.coder.encode(record).base64EncodedString()
        return ConsulKVEntry(key: Self.keys.relay(relayID(id)), value: value, createIndex: index, modifyIndex: index)
    }

    static func agentEntry(_ id: String, heartbeat: Int64, expires: Int64, index: UInt64) throws -> ConsulKVEntry {
        let record = ConsulAgentRecord(
            relayID: "relay-a", relayIncarnation: 1, heartbeatMilliseconds: heartbeat, expiresMilliseconds: expires
        )
        let value = try Self.coder.encode(record).base64EncodedString()
        return ConsulKVEntry(key: Self.keys.agent(agentID(id)), value: value, createIndex: index, modifyIndex: index)
    }

    static func graceUntil(_ time: Int64, index: UInt64) -> ConsulKVEntry {
        let value = ConsulGracePlan.encodeTime(time).base64EncodedString()
        return ConsulKVEntry(key: Self.keys.graceUntil, value: value, createIndex: index, modifyIndex: index)
    }

    static func plan(
        start: Int64, now: Int64, bound: Int64, graceUntil: ConsulKVEntry? = nil, _ entries: [ConsulKVEntry]
    ) -> ConsulGracePlan {
        ConsulGracePlan(
            outageStart: start, now: now, bound: bound, graceUntil: graceUntil,
            contents: ConsulRegistryContents(entries: entries, keys: Self.keys, coder: Self.coder)
        )
    }

    @Test("extends exactly the entries live at the start and not renewed late in the window, by min(length, bound)")
    func selection() throws {
        let entries = [
            try Self.relayEntry("live", heartbeat: 0, expires: 3_000, index: 5),
            try Self.relayEntry("expired-before", heartbeat: 0, expires: 1_000, index: 6),
            try Self.relayEntry("expired-at-start", heartbeat: 0, expires: 2_000, index: 7),
            try Self.relayEntry("renewed-after", heartbeat: 8_000, expires: 11_000, index: 8),
            try Self.agentEntry("agent-live", heartbeat: 500, expires: 3_500, index: 9),
            try Self.agentEntry("agent-renewed", heartbeat: 2_000, expires: 5_000, index: 10),
        ]
        let plan = Self.plan(start: 2_000, now: 9_000, bound: 10_000, entries)
        #expect(plan.grace == 7_000)
        #expect(plan.relays.map(\.id.rawValue) == ["live"])
        #expect(plan.relays.first?.record.expiresMilliseconds == 10_000)
        // agent-renewed was written at the start (a write in flight when Consul stopped): extended.
        #expect(plan.agents.map(\.id.rawValue) == ["agent-live", "agent-renewed"])
        #expect(plan.agents.first?.record.expiresMilliseconds == 10_500)

        let writes = try plan.writes(keys: Self.keys, coder: Self.coder)
        #expect(writes.map(\.target) == [.graceUntil, .relay, .agent, .agent])
        #expect(writes.map(\.operation.verb) == [.cas, .cas, .cas, .cas])
        #expect(writes.map(\.operation.index) == [0, 5, 9, 10])
        #expect(writes.first?.operation.value == ConsulGracePlan.encodeTime(9_000))
    }

    @Test("the bound caps the grace")
    func bounded() throws {
        let plan = Self.plan(start: 2_000, now: 9_000, bound: 2_000, [try Self.relayEntry("live", heartbeat: 0, expires: 2_500, index: 5)])
        #expect(plan.grace == 2_000)
        #expect(plan.relays.first?.record.expiresMilliseconds == 4_500)
    }

    @Test("a window already granted by another replica counts once: grace starts at grace-until")
    func grantedUntil() throws {
        let entries = [try Self.relayEntry("live", heartbeat: 0, expires: 10_000, index: 5)]
        let partly = Self.plan(start: 2_000, now: 9_000, bound: 10_000, graceUntil: Self.graceUntil(8_500, index: 4), entries)
        #expect(partly.start == 8_500)
        #expect(partly.grace == 500)
        #expect(partly.graceUntilIndex == 4)
        #expect(partly.relays.first?.record.expiresMilliseconds == 10_500)

        let done = Self.plan(start: 2_000, now: 9_000, bound: 10_000, graceUntil: Self.graceUntil(9_000, index: 4), entries)
        #expect(!done.grantsGrace)
        #expect(done.relays.isEmpty)

        // An older grant does not move the start earlier.
        let older = Self.plan(start: 2_000, now: 9_000, bound: 10_000, graceUntil: Self.graceUntil(1_000, index: 4), entries)
        #expect(older.start == 2_000)
        #expect(older.grace == 7_000)
    }

    @Test("an outage's registry-time start follows the tracker: failures during a grace step open the next outage")
    func outageStart() {
        var start = ConsulOutageStart()
        #expect(start.beginGrace() == nil)
        start.graceApplied()
        start.recordFailure(startedAt: 2_000)
        start.recordFailure(startedAt: 1_500)
        start.recordFailure(startedAt: 3_000)
        #expect(start.beginGrace() == 1_500)
        start.recordFailure(startedAt: 9_000)  // during the step
        start.graceFailed()
        #expect(start.openSince == 1_500)  // still open, from its earliest start
        #expect(start.beginGrace() == 1_500)
        start.recordFailure(startedAt: 9_500)
        start.graceApplied()
        #expect(start.openSince == 9_500)  // the next outage
        #expect(start.granting == nil)
    }
}
