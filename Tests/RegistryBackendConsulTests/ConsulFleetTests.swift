import Foundation
@testable import RegistryBackendConsul
import RegistryCore
import RegistryTestKit
import Testing

/// The fleet extension on Consul: requests per call, chunking at the 64-operation txn
/// limit, races between replicas, capacity across chunks, paging.
@Suite("Consul backend fleet")
struct ConsulFleetTests {
    let ttl = try! TTLPolicy(relayTTL: .seconds(10), agentTTL: .seconds(10))

    /// A double and a backend on it sharing `harness`'s clock.
    func withBackend(
        harness: ConsulHarness = .double(),
        limits: CapacityLimits = CapacityLimits(),
        _ body: (ConsulDouble, ConsulBackend<ManualClock>) async throws -> Void
    ) async throws {
        try await ConsulDouble.with(clock: harness.clock) { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address))
            try await harness.withBackend(configuration, ttl: self.ttl, limits: limits) { backend in
                try await body(double, backend)
            }
        }
    }

    @Test("a sync of 300 agents is a few txns of at most 64 operations, never a request per agent")
    func syncRequests() async throws {
        try await self.withBackend { double, backend in
            let ids = (0..<300).map { "agent-\($0)" }
            var before = double.requestCount
            let placed = try await backend.syncRelay(relaySync("relay-a", place: ids))
            #expect(placed.lost.isEmpty)
            let placing = double.requestLog.dropFirst(before)
            // Reads: 5 txns of 64 (relay + 300 agents); relay: guard + key count + 1 txn;
            // agents: one count (then the fast path) + 5 txns of 62.
            #expect(placing.count <= 15, "\(Array(placing))")
            #expect(placing.filter { $0.hasPrefix("PUT /v1/txn") }.count == 11)

            before = double.requestCount
            let renewed = try await backend.syncRelay(relaySync("relay-a", endpoint: false, renew: ids))
            #expect(renewed.lost.isEmpty)
            let renewing = Array(double.requestLog.dropFirst(before))
            // 5 read txns, 1 relay txn, 5 agent txns.
            #expect(renewing.count == 11, "\(renewing)")
            #expect(renewing.allSatisfy { $0.hasPrefix("PUT /v1/txn") })
            #expect(try await backend.agentIDs().count == 300)
        }
    }

    @Test("a sync of the most agents allowed (10,000) places and renews them all in 157 + 1 + 162 txns")
    func largestSync() async throws {
        try await self.withBackend { double, backend in
            let ids = (0..<RelaySync.maximumAgents).map { "drone-\($0)" }
            let placed = try await backend.syncRelay(relaySync("relay-a", place: ids))
            #expect(placed.lost.isEmpty)
            let before = double.requestCount
            let started = ContinuousClock.now
            let renewed = try await backend.syncRelay(relaySync("relay-a", endpoint: false, renew: ids))
            let elapsed = ContinuousClock.now - started
            #expect(renewed.lost.isEmpty)
            #expect(double.requestCount - before == 157 + 1 + 162)
            print("renewing 10,000 agents in one sync against the double took \(elapsed)")
            let statuses = try await backend.listRelayStatuses(after: nil, limit: 1)
            #expect(statuses.entries.map(\.agentCount) == [10_000])
        }
    }

    @Test("a lookup of 1,000 agents is 16 read txns for the agents and one per 64 relays")
    func lookupRequests() async throws {
        try await self.withBackend { double, backend in
            let ids = (0..<1_000).map { "agent-\($0)" }
            _ = try await backend.syncRelay(relaySync("relay-a", place: Array(ids.prefix(500))))
            _ = try await backend.syncRelay(relaySync("relay-b", place: Array(ids.suffix(500))))
            let before = double.requestCount
            let lookup = try await backend.placements(of: (ids + ["ghost"]).map(agentID))
            let requests = Array(double.requestLog.dropFirst(before))
            #expect(requests.count == 17, "\(requests)")
            #expect(lookup.placements.map(\.agentID.rawValue) == ids)
            #expect(lookup.missing == [agentID("ghost")])
        }
    }

    @Test("a renewal racing a move on another replica never moves the agent back")
    func renewalRacesMove() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with(clock: harness.clock) { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address))
            try await harness.withBackend(configuration, ttl: self.ttl) { first in
                try await harness.withBackend(configuration, ttl: self.ttl) { second in
                    let ids = (0..<150).map { "agent-\($0)" }
                    _ = try await second.syncRelay(relaySync("relay-b"))
                    for round in 0..<3 {
                        _ = try await first.syncRelay(relaySync("relay-a", place: ids))
                        async let renewal = first.syncRelay(relaySync("relay-a", endpoint: false, renew: ids))
                        async let move = second.syncRelay(relaySync("relay-b", place: ids))
                        let (renewed, moved) = try await (renewal, move)
                        #expect(moved.lost.isEmpty, "round \(round)")
                        // Each renewal either committed before the move or found the agent moved.
                        #expect(renewed.lost.allSatisfy { $0.reason == .placedElsewhere(current: relayID("relay-b")) }, "round \(round)")
                        let listed = try await first.listPlacements(relayID: nil, after: nil, limit: 1_000).entries
                        #expect(listed.count == 150)
                        #expect(listed.allSatisfy { $0.relayID == relayID("relay-b") }, "round \(round)")
                        #expect(try await first.listPlacements(relayID: relayID("relay-a"), after: nil, limit: 1_000).entries.isEmpty)
                    }
                }
            }
        }
    }

    @Test("an agent moved between a sync's read and its write is judged again: placed elsewhere, not renewed back")
    func moveDuringSync() async throws {
        let harness = ConsulHarness.double()
        try await self.withBackend(harness: harness) { double, backend in
            _ = try await backend.syncRelay(relaySync("relay-a", place: ["agent-1", "agent-2"]))
            _ = try await backend.registerRelay(registration("relay-b"))
            let relayB = try #require(double.store.entries["aero-arc-registry/v1/relay/cmVsYXktYg"])
            let now = harness.clock.now().rawValue
            let moved = ConsulAgentRecord(
                relayID: "relay-b",
                relayIncarnation: relayB.createIndex,
                heartbeatMilliseconds: now,
                expiresMilliseconds: now + 10_000
            )
            let value = Array(try ConsulRecordCoder().encode(moved))
            // The double applies each request when it arrives and answers after the delay: the
            // sync reads at 0, writes the relay at ~300ms and its agents at ~600ms.
            try await double.inject(.delay(.milliseconds(300)))
            async let result = backend.syncRelay(relaySync("relay-a", endpoint: false, renew: ["agent-1", "agent-2"]))
            try await Task.sleep(for: .milliseconds(450))
            // Another replica moves agent-1 to relay-b in between.
            double.withStore { _ = $0.put("aero-arc-registry/v1/agent/YWdlbnQtMQ", value: value, cas: nil) }
            let lost = try await result.lost
            try await double.inject(nil)
            #expect(lost == [LostAgent(agentID: agentID("agent-1"), reason: .placedElsewhere(current: relayID("relay-b")))])
            #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-b"))
            #expect(try await backend.placement(of: agentID("agent-2")).relayID == relayID("relay-a"))
            // The rolled-back chunk was read again in one consistent snapshot.
            #expect(double.requestLog.contains("PUT /v1/txn?consistent"))
        }
    }

    @Test("near the agent limit, creations spanning chunks are admitted in request order and the rest lost")
    func capacityAcrossChunks() async throws {
        try await self.withBackend(limits: CapacityLimits(maxRelays: 10, maxAgents: 100)) { double, backend in
            let existing = (0..<70).map { "old-\($0)" }
            #expect(try await backend.syncRelay(relaySync("relay-a", place: existing)).lost.isEmpty)
            backend.capacity.reset()
            let fresh = (0..<80).map { "new-\($0)" }
            // Moves and renewals need no room, and come between creations in the request.
            let result = try await backend.syncRelay(relaySync("relay-b", place: fresh + ["old-0"], renew: ["old-1"]))
            #expect(result.lost.map(\.agentID.rawValue) == fresh.suffix(50) + ["old-1"])
            #expect(result.lost.dropLast().allSatisfy { $0.reason == .capacity })
            #expect(result.lost.last?.reason == .placedElsewhere(current: relayID("relay-a")))
            #expect(try await backend.agentIDs().count == 100)
            let onB = try await backend.listPlacements(relayID: relayID("relay-b"), after: nil, limit: 1_000).entries
            #expect(Set(onB.map(\.agentID.rawValue)) == Set(fresh.prefix(30) + ["old-0"]))
            #expect(double.store.entries.keys.filter { $0.contains("/agent/") }.count == 100)
        }
    }

    @Test("pages of every relay follow ID byte order from the key listing and chunked reads of the page")
    func paging() async throws {
        try await self.withBackend { double, backend in
            var expected: [String] = []
            for (index, relay) in ["relay-c", "relay-a", "relay-b"].enumerated() {
                let ids = (0..<130).map { "\(["x", "A", "é"][index])-\($0)" }
                expected += ids
                _ = try await backend.syncRelay(relaySync(relay, place: ids))
            }
            expected.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            var listed: [String] = []
            var after: AgentID?
            var pages = 0
            while true {
                let before = double.requestCount
                let page = try await backend.listPlacements(relayID: nil, after: after, limit: 64)
                let requests = Array(double.requestLog.dropFirst(before))
                // The keys, 88 agents (the page and a margin) in 2 txns, their relays in 1.
                #expect(requests.count <= 4, "\(requests)")
                #expect(requests.filter { $0.hasSuffix("?keys") }.count == 1)
                #expect(!requests.contains { $0.hasSuffix("?recurse") })
                listed += page.entries.map(\.agentID.rawValue)
                pages += 1
                guard page.hasMore, let last = page.entries.last else { break }
                after = last.agentID
            }
            #expect(listed == expected)
            #expect(pages == 7)
            // One relay's agents: one recursive read.
            let before = double.requestCount
            let onB = try await backend.listPlacements(relayID: relayID("relay-b"), after: nil, limit: 1_000)
            #expect(onB.entries.count == 130 && !onB.hasMore)
            #expect(double.requestLog.dropFirst(before).map { $0.hasSuffix("?recurse") } == [true])
            let statuses = try await backend.listRelayStatuses(after: relayID("relay-a"), limit: 1)
            #expect(statuses.entries.map(\.relay.id.rawValue) == ["relay-b"])
            #expect(statuses.entries.map(\.agentCount) == [130])
            #expect(statuses.hasMore)
        }
    }

    @Test("a page the key listing cannot fill, past unswept dead agents, is read whole and still full")
    func pagingPastGarbage() async throws {
        let harness = ConsulHarness.double()
        try await self.withBackend(harness: harness) { double, backend in
            _ = try await backend.syncRelay(relaySync("relay-a", place: (0..<100).map { "a-\($0)" }))
            try await harness.advance(by: .seconds(6))
            _ = try await backend.syncRelay(relaySync("relay-b", place: (0..<20).map { "b-\($0)" }))
            try await harness.advance(by: .seconds(6))
            // relay-a and its 100 agents are dead but still stored; their IDs come first.
            let before = double.requestCount
            let page = try await backend.listPlacements(relayID: nil, after: nil, limit: 10)
            #expect(page.entries.map(\.agentID.rawValue) == Array((0..<20).map { "b-\($0)" }.sorted().prefix(10)))
            #expect(page.hasMore)
            #expect(double.requestLog.dropFirst(before).filter { $0.hasSuffix("?recurse") }.count == 1)
            let rest = try await backend.listPlacements(relayID: nil, after: page.entries.last?.agentID, limit: 10)
            #expect(rest.entries.count == 10 && !rest.hasMore)
        }
    }

    @Test("a relay's incarnation is its key's CreateIndex, and placements carry it")
    func incarnationIsCreateIndex() async throws {
        let harness = ConsulHarness.double()
        try await self.withBackend(harness: harness) { double, backend in
            let first = try await backend.syncRelay(relaySync("relay-a", place: ["agent-1"]))
            let key = "aero-arc-registry/v1/relay/cmVsYXktYQ"
            #expect(first.incarnation.rawValue == double.store.entries[key]?.createIndex)
            try await harness.advance(by: .seconds(11))
            let second = try await backend.syncRelay(relaySync("relay-a", renew: ["agent-1"]))
            #expect(second.relayStarted)
            #expect(second.incarnation.rawValue == double.store.entries[key]?.createIndex)
            #expect(second.incarnation > first.incarnation)
        }
    }

    // MARK: The rules, without Consul

    let rules = ConsulSyncRules(relayID: relayID("relay-a"), incarnation: 40, now: 1_000, agentDeadline: 11_000)

    func stored(_ id: String, on relay: String, incarnation: UInt64, expires: Int64, modifyIndex: UInt64 = 7) -> (ConsulKVEntry, StoredAgent) {
        let record = ConsulAgentRecord(relayID: relay, relayIncarnation: incarnation, heartbeatMilliseconds: 0, expiresMilliseconds: expires)
        let entry = ConsulKVEntry(key: id, value: nil, createIndex: 3, modifyIndex: modifyIndex)
        return (entry, StoredAgent(id: agentID(id), relayID: relayID(relay), record: record, modifyIndex: modifyIndex))
    }

    func item(_ id: String, placing: Bool) -> ConsulSyncItem {
        ConsulSyncItem(position: 0, id: agentID(id), key: id, placing: placing)
    }

    @Test("placing writes at the index read, 0 for a new agent, whatever the agent was")
    func rulesPlacing() {
        #expect(self.rules.decide(self.item("a", placing: true), entry: nil, agent: nil, otherRelays: [:]) == .write(self.rules.record, index: 0))
        let (entry, agent) = self.stored("a", on: "relay-b", incarnation: 9, expires: 5_000, modifyIndex: 12)
        let decision = self.rules.decide(self.item("a", placing: true), entry: entry, agent: agent, otherRelays: [:])
        #expect(decision == .write(self.rules.record, index: 12))
    }

    @Test("renewing keeps only agents live on the current incarnation, and says where others are")
    func rulesRenewing() {
        let renew = self.item("a", placing: false)
        #expect(self.rules.decide(renew, entry: nil, agent: nil, otherRelays: [:]) == .lost(.notLive))
        var (entry, agent) = self.stored("a", on: "relay-a", incarnation: 40, expires: 5_000)
        #expect(self.rules.decide(renew, entry: entry, agent: agent, otherRelays: [:]) == .write(self.rules.record, index: 7))
        (entry, agent) = self.stored("a", on: "relay-a", incarnation: 39, expires: 5_000)
        #expect(self.rules.decide(renew, entry: entry, agent: agent, otherRelays: [:]) == .lost(.notLive))
        (entry, agent) = self.stored("a", on: "relay-a", incarnation: 40, expires: 1_000)
        #expect(self.rules.decide(renew, entry: entry, agent: agent, otherRelays: [:]) == .lost(.notLive))

        (entry, agent) = self.stored("a", on: "relay-b", incarnation: 9, expires: 5_000)
        #expect(self.rules.relayToRead(renewing: agent) == relayID("relay-b"))
        let relayRecord = ConsulRelayRecord(address: "10.0.0.1", grpcPort: 7000, heartbeatMilliseconds: 0, expiresMilliseconds: 5_000)
        let live = StoredRelay(id: relayID("relay-b"), record: relayRecord, incarnation: 9, modifyIndex: 9)
        let elsewhere = self.rules.decide(renew, entry: entry, agent: agent, otherRelays: [relayID("relay-b"): live])
        #expect(elsewhere == .lost(.placedElsewhere(current: relayID("relay-b"))))
        var replaced = live
        replaced.incarnation = 10
        #expect(self.rules.decide(renew, entry: entry, agent: agent, otherRelays: [relayID("relay-b"): replaced]) == .lost(.notLive))
        #expect(self.rules.decide(renew, entry: entry, agent: agent, otherRelays: [:]) == .lost(.notLive))
    }
}

/// A sync of `relay`, with an endpoint unless `endpoint` is false.
private func relaySync(_ relay: String, endpoint: Bool = true, place: [String] = [], renew: [String] = []) -> RelaySync {
    RelaySync(
        relayID: relayID(relay),
        endpoint: endpoint ? try! RelayEndpoint(address: "10.0.0.1", grpcPort: 7000) : nil,
        place: place.map(agentID),
        renew: renew.map(agentID)
    )
}
