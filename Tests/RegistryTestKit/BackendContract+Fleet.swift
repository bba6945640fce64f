import Foundation
import RegistryCore
import Testing

/// The fleet extension's contract (docs/contract.md, "Fleet API"), run against every backend.
extension BackendContract {
    static let fleetCases: [BackendContractCase] = [
        BackendContractCase("a sync with an endpoint starts a relay, places its agents and reports the incarnation") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let first = try await backend.syncRelay(sync("relay-a", place: ["agent-1", "agent-2"]))
                #expect(first.relayStarted)
                #expect(first.incarnation.rawValue > 0)
                #expect(first.lost.isEmpty)
                let now = try await harness.now()
                #expect(first.now == now)
                #expect(first.relayExpires.rawValue == now.rawValue + evenTTL.relayTTLMilliseconds)
                #expect(try await backend.relayIDs() == ["relay-a"])
                #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-a"))
                #expect(try await backend.agentIDs() == ["agent-1", "agent-2"])

                try await harness.advance(by: unit * 0.6)
                let second = try await backend.syncRelay(sync("relay-a", renew: ["agent-1", "agent-2"]))
                #expect(!second.relayStarted)
                #expect(second.incarnation == first.incarnation)
                #expect(second.lost.isEmpty)
                try await harness.advance(by: unit * 0.6)
                // Both renewed by the second sync: alive past the first sync's deadline.
                #expect(try await backend.agentIDs() == ["agent-1", "agent-2"])
                let lookup = try await backend.placements(of: [agentID("agent-2")])
                #expect(lookup.placements.map(\.lastHeartbeat) == [second.now])
            }
        },
        BackendContractCase("a sync with an endpoint renews a live relay, updates its endpoint and keeps its agents") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let first = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                let second = try await backend.syncRelay(sync("relay-a", port: 7001, renew: ["agent-1"]))
                #expect(!second.relayStarted)
                #expect(second.incarnation == first.incarnation)
                #expect(try await backend.listRelays().entries.map(\.endpoint.grpcPort) == [7001])
                #expect(try await backend.agentIDs() == ["agent-1"])
            }
        },
        BackendContractCase("a renew-only sync of a relay that is not live is not found and changes nothing") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                await expectRegistryError(.notFound) { try await backend.syncRelay(sync("ghost", endpoint: false, place: ["agent-1"])) }
                #expect(try await backend.relayIDs() == [])
                #expect(try await backend.agentIDs() == [])
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                try await harness.advance(by: unit * 1.2)
                await expectRegistryError(.notFound) { try await backend.syncRelay(sync("relay-a", endpoint: false, renew: ["agent-1"])) }
                #expect(try await backend.relayIDs() == [])
            }
        },
        BackendContractCase("a renew-only sync renews a live relay and its agents") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let first = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                try await harness.advance(by: unit * 0.6)
                let renewed = try await backend.syncRelay(sync("relay-a", endpoint: false, renew: ["agent-1"]))
                #expect(renewed.incarnation == first.incarnation)
                #expect(!renewed.relayStarted)
                try await harness.advance(by: unit * 0.6)
                #expect(try await backend.relayIDs() == ["relay-a"])
                #expect(try await backend.agentIDs() == ["agent-1"])
            }
        },
        BackendContractCase("a relay synced again after it expired is a new incarnation; its old agents stay dead") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let first = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                try await harness.advance(by: unit * 1.2)
                let again = try await backend.syncRelay(sync("relay-a", renew: ["agent-1"]))
                #expect(again.relayStarted)
                #expect(again.incarnation != first.incarnation)
                #expect(again.lost == [LostAgent(agentID: agentID("agent-1"), reason: .notLive)])
                #expect(try await backend.agentIDs() == [])
                #expect(try await backend.placements(of: [agentID("agent-1")]).missing == [agentID("agent-1")])
            }
        },
        BackendContractCase("a stale incarnation's agents are not renewed by the relay's next incarnation") { harness in
            try await harness.withBackend(ttl: longAgentTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                try await harness.advance(by: unit * 1.2)
                // Registered again through v1: a new incarnation; agent-1 belongs to the old one.
                _ = try await backend.registerRelay(registration("relay-a"))
                let renewal = try await backend.syncRelay(sync("relay-a", endpoint: false, renew: ["agent-1"]))
                #expect(renewal.lost == [LostAgent(agentID: agentID("agent-1"), reason: .notLive)])
                #expect(try await backend.agentIDs() == [])
            }
        },
        BackendContractCase("renewing an agent placed elsewhere reports where it is and changes nothing") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-1"]))
                let before = try await backend.placement(of: agentID("agent-1"))
                try await harness.advance(by: unit * 0.3)
                let result = try await backend.syncRelay(sync("relay-a", renew: ["agent-1", "agent-unknown"]))
                #expect(
                    result.lost == [
                        LostAgent(agentID: agentID("agent-1"), reason: .placedElsewhere(current: relayID("relay-b"))),
                        LostAgent(agentID: agentID("agent-unknown"), reason: .notLive),
                    ]
                )
                // Not moved, not renewed, and nothing created for the unknown one.
                #expect(try await backend.placement(of: agentID("agent-1")) == before)
                #expect(try await backend.agentIDs() == ["agent-1"])
            }
        },
        BackendContractCase("placing an agent in a sync moves it off its previous relay") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-1"]))
                let result = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                #expect(result.lost.isEmpty)
                #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-a"))
                let lost = try await backend.syncRelay(sync("relay-b", renew: ["agent-1"])).lost
                #expect(lost == [LostAgent(agentID: agentID("agent-1"), reason: .placedElsewhere(current: relayID("relay-a")))])
                #expect(try await backend.listAgents().entries.map(\.relayID) == [relayID("relay-a")])
            }
        },
        BackendContractCase("placements over the agent capacity are lost with CAPACITY; the rest of the sync applies") { harness in
            try await harness.withBackend(ttl: evenTTL, limits: CapacityLimits(maxRelays: 2, maxAgents: 2)) { backend in
                let result = try await backend.syncRelay(sync("relay-a", place: ["agent-1", "agent-2", "agent-3"]))
                #expect(result.lost == [LostAgent(agentID: agentID("agent-3"), reason: .capacity)])
                #expect(try await backend.agentIDs() == ["agent-1", "agent-2"])
                // Moving an existing agent needs no room.
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-2"]))
                #expect(try await backend.placement(of: agentID("agent-2")).relayID == relayID("relay-b"))
            }
        },
        BackendContractCase("a sync that would exceed the relay capacity is refused and changes nothing") { harness in
            try await harness.withBackend(ttl: evenTTL, limits: CapacityLimits(maxRelays: 1, maxAgents: 10)) { backend in
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                await expectRegistryError(.resourceExhausted) { try await backend.syncRelay(sync("relay-b", place: ["agent-1", "agent-2"])) }
                #expect(try await backend.relayIDs() == ["relay-a"])
                #expect(try await backend.agentIDs() == ["agent-1"])
                #expect(try await backend.placement(of: agentID("agent-1")).relayID == relayID("relay-a"))
            }
        },
        BackendContractCase("lost agents are reported placements first, then renewals, each in request order") { harness in
            try await harness.withBackend(ttl: evenTTL, limits: CapacityLimits(maxRelays: 2, maxAgents: 1)) { backend in
                _ = try await backend.syncRelay(sync("relay-b", place: ["agent-x"]))
                let result = try await backend.syncRelay(sync("relay-a", place: ["agent-2", "agent-1"], renew: ["agent-z", "agent-x"]))
                #expect(
                    result.lost == [
                        LostAgent(agentID: agentID("agent-2"), reason: .capacity),
                        LostAgent(agentID: agentID("agent-1"), reason: .capacity),
                        LostAgent(agentID: agentID("agent-z"), reason: .notLive),
                        LostAgent(agentID: agentID("agent-x"), reason: .placedElsewhere(current: relayID("relay-b"))),
                    ]
                )
            }
        },
        BackendContractCase("a batch lookup answers live agents in request order and lists the rest as missing") { harness in
            try await harness.withBackend(ttl: longAgentTTL) { backend in
                let a = try await backend.syncRelay(sync("relay-a", place: ["agent-1", "agent-3"]))
                let b = try await backend.syncRelay(sync("relay-b", place: ["agent-2"]))
                let lookup = try await backend.placements(of: ["agent-3", "ghost-1", "agent-2", "agent-1", "ghost-0"].map(agentID))
                #expect(lookup.placements.map(\.agentID.rawValue) == ["agent-3", "agent-2", "agent-1"])
                #expect(lookup.placements.map(\.relayID.rawValue) == ["relay-a", "relay-b", "relay-a"])
                #expect(lookup.placements.map(\.relayIncarnation) == [a.incarnation, b.incarnation, a.incarnation])
                #expect(lookup.missing.map(\.rawValue) == ["ghost-1", "ghost-0"])
                #expect(lookup.asOf == (try await harness.now()))
                // Agents outlive their relay's TTL here: each expires with its relay.
                #expect(lookup.placements.map(\.expires) == [a.relayExpires, b.relayExpires, a.relayExpires])
            }
        },
        BackendContractCase("a placement expires at the earlier of its own and its relay's deadlines") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let placed = try await backend.syncRelay(sync("relay-a", place: ["agent-1"]))
                try await harness.advance(by: unit * 0.5)
                let renewed = try await backend.syncRelay(sync("relay-a"))
                let placement = try #require(try await backend.placements(of: [agentID("agent-1")]).placements.first)
                #expect(placement.expires.rawValue == placed.now.rawValue + evenTTL.agentTTLMilliseconds)
                #expect(placement.expires < renewed.relayExpires)
                #expect(placement.lastHeartbeat == placed.now)
                try await harness.advance(by: unit * 0.6)
                #expect(try await backend.placements(of: [agentID("agent-1")]).missing == [agentID("agent-1")])
            }
        },
        BackendContractCase("placements are paged in ID byte order, each live one exactly once, optionally by relay") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                // Byte order: "Z" < "a" < "é" (0xC3 0xA9); "a" < "a-1" < "b".
                _ = try await backend.syncRelay(sync("relay-a", place: ["b", "a-1", "é"]))
                _ = try await backend.syncRelay(sync("relay-b", place: ["a", "Z"]))
                let all = try await pages { after in try await backend.listPlacements(relayID: nil, after: after, limit: 2) }
                #expect(all.map(\.agentID.rawValue) == ["Z", "a", "a-1", "b", "é"])
                #expect(all.map(\.relayID.rawValue) == ["relay-b", "relay-b", "relay-a", "relay-a", "relay-a"])
                let onA = try await pages { after in try await backend.listPlacements(relayID: relayID("relay-a"), after: after, limit: 2) }
                #expect(onA.map(\.agentID.rawValue) == ["a-1", "b", "é"])
                let whole = try await backend.listPlacements(relayID: nil, after: nil, limit: 10)
                #expect(whole.entries.count == 5)
                #expect(!whole.hasMore)
                let first = try await backend.listPlacements(relayID: nil, after: nil, limit: 4)
                #expect(first.hasMore)
                let ghost = try await backend.listPlacements(relayID: relayID("ghost"), after: nil, limit: 10)
                #expect(ghost.entries.isEmpty && !ghost.hasMore)
            }
        },
        BackendContractCase("pages list live entries only, and a change between pages never repeats or skips an unchanged entry") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-2", "agent-4", "agent-6"]))
                let first = try await backend.listPlacements(relayID: nil, after: nil, limit: 2)
                #expect(first.entries.map(\.agentID.rawValue) == ["agent-2", "agent-4"])
                // Meanwhile: an agent appears before the cursor, one after it.
                _ = try await backend.syncRelay(sync("relay-a", place: ["agent-1", "agent-5"], renew: ["agent-2", "agent-4", "agent-6"]))
                let rest = try await pages(after: first.entries.last?.agentID) { after in
                    try await backend.listPlacements(relayID: nil, after: after, limit: 2)
                }
                #expect(rest.map(\.agentID.rawValue) == ["agent-5", "agent-6"])
                // Expired agents are not listed, whether or not they were reclaimed.
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.syncRelay(sync("relay-a", renew: ["agent-5"]))
                try await harness.advance(by: unit * 0.6)
                let live = try await pages { after in try await backend.listPlacements(relayID: nil, after: after, limit: 1) }
                #expect(live.map(\.agentID.rawValue) == ["agent-5"])
                let onRelay = try await backend.listPlacements(relayID: relayID("relay-a"), after: nil, limit: 10)
                #expect(onRelay.entries.map(\.agentID.rawValue) == ["agent-5"])
            }
        },
        BackendContractCase("relay statuses are paged in ID order with live agent counts and incarnations") { harness in
            try await harness.withBackend(ttl: try! TTLPolicy(relayTTL: unit * 3, agentTTL: unit)) { backend in
                let b = try await backend.syncRelay(sync("relay-b", port: 7002, place: ["agent-1", "agent-2"]))
                let a = try await backend.syncRelay(sync("relay-a", place: ["agent-3"]))
                _ = try await backend.syncRelay(sync("relay-c"))
                try await harness.advance(by: unit * 0.6)
                _ = try await backend.syncRelay(sync("relay-b", port: 7002, renew: ["agent-1"]))
                try await harness.advance(by: unit * 0.6)
                // agent-2 and agent-3 have expired; agent-1 was renewed.
                let statuses = try await pages { after in try await backend.listRelayStatuses(after: after, limit: 2) }
                #expect(statuses.map(\.relay.id.rawValue) == ["relay-a", "relay-b", "relay-c"])
                #expect(statuses.map(\.agentCount) == [0, 1, 0])
                #expect(statuses.map(\.incarnation).prefix(2) == [a.incarnation, b.incarnation])
                #expect(statuses[1].relay.endpoint.grpcPort == 7002)
                #expect(statuses[0].expires == a.relayExpires)
                let now = try await harness.now()
                #expect(statuses[1].expires.rawValue == now.rawValue - (unit * 0.6).wholeMilliseconds + (unit * 3).wholeMilliseconds)
                try await harness.advance(by: unit * 2)
                // relay-a and relay-c expired; relay-b was renewed later.
                let later = try await backend.listRelayStatuses(after: nil, limit: 10)
                #expect(later.entries.map(\.relay.id.rawValue) == ["relay-b"])
                #expect(!later.hasMore)
            }
        },
        BackendContractCase("one sync places and renews hundreds of agents; lookups and pages see them all") { harness in
            try await harness.withBackend(ttl: evenTTL) { backend in
                let ids = (0..<300).map { String(format: "agent-%04d", $0) }
                let placed = try await backend.syncRelay(sync("relay-a", place: ids))
                #expect(placed.lost.isEmpty)
                try await harness.advance(by: unit * 0.6)
                let renewed = try await backend.syncRelay(sync("relay-a", endpoint: false, renew: ids))
                #expect(renewed.lost.isEmpty)
                try await harness.advance(by: unit * 0.6)
                let lookup = try await backend.placements(of: ids.reversed().map(agentID))
                #expect(lookup.placements.map(\.agentID.rawValue) == ids.reversed())
                #expect(lookup.missing.isEmpty)
                let listed = try await pages { after in try await backend.listPlacements(relayID: relayID("relay-a"), after: after, limit: 128) }
                #expect(listed.map(\.agentID.rawValue) == ids)
                let status = try await backend.listRelayStatuses(after: nil, limit: 10)
                #expect(status.entries.map(\.agentCount) == [300])
            }
        },
    ]
}

/// A sync of `relay`, with an endpoint unless `endpoint` is false.
func sync(_ relay: String, endpoint: Bool = true, port: Int = 7000, place: [String] = [], renew: [String] = []) -> RelaySync {
    RelaySync(
        relayID: relayID(relay),
        endpoint: endpoint ? try! RelayEndpoint(address: "10.0.0.1", grpcPort: port) : nil,
        place: place.map(agentID),
        renew: renew.map(agentID)
    )
}

/// Every entry of a paged listing, following pages from `after` until one says no more follow.
func pages<Element: Sendable, ID>(
    after start: ID? = nil,
    _ page: (ID?) async throws -> Page<Element>
) async throws -> [Element] where Element: PagedEntry, Element.ID == ID {
    var entries: [Element] = []
    var after = start
    for _ in 0..<1_000 {
        let next = try await page(after)
        entries += next.entries
        guard next.hasMore, let last = next.entries.last else { return entries }
        after = last.pagingID
    }
    Issue.record("paging did not end")
    return entries
}

/// An entry of a paged listing, and the ID the next page starts after.
protocol PagedEntry {
    associatedtype ID
    var pagingID: ID { get }
}

extension FleetPlacement: PagedEntry {
    var pagingID: AgentID { self.agentID }
}

extension RelayStatus: PagedEntry {
    var pagingID: RelayID { self.relay.id }
}
