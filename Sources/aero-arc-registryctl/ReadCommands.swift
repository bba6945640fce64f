import ArgumentParser
import Foundation
import GRPCCore
import RegistryClient
import RegistryCore

struct ListRelays: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relays",
        abstract: "List live relays with their agent counts.",
        discussion: "Pages through ListRelayStatuses; against a server without the fleet service (the Go registry), ListRelays, without agent counts."
    )

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let rows = try await self.connection.withClient { client -> [RelayRow]? in
            do {
                var rows: [RelayRow] = []
                var token: String?
                repeat {
                    let page = try await client.fleet.listRelayStatuses(pageToken: token)
                    rows += page.page.map { RelayRow(relay: $0.relay, expires: $0.expires, agentCount: $0.agentCount, draining: $0.draining, asOf: page.asOf) }
                    token = page.nextPageToken
                } while token != nil
                return rows
            } catch let error as RPCError where error.code == .unimplemented {
                let listing = try await client.listRelays()
                let asOf = listing.timing.asOf ?? SystemWallClock().now()
                return listing.entries.map { relay in
                    RelayRow(relay: relay, expires: listing.timing.relayTTL.map { relay.lastHeartbeat.advanced(by: $0) }, agentCount: nil, draining: nil, asOf: asOf)
                }
            }
        } ?? []
        let now = rows.first?.asOf ?? SystemWallClock().now()
        switch self.connection.output {
        case .json:
            printJSON(rows.map { row in
                RelayJSON(
                    relayID: row.relay.id.rawValue,
                    address: row.relay.endpoint.address,
                    grpcPort: row.relay.endpoint.grpcPort,
                    lastHeartbeatUnixMs: row.relay.lastHeartbeat.rawValue,
                    expiresUnixMs: row.expires?.rawValue,
                    agentCount: row.agentCount,
                    draining: row.draining
                )
            })
        case .table:
            var table = Table(headers: ["RELAY", "ENDPOINT", "AGENTS", "LAST HEARTBEAT", "TIME LEFT"])
            for row in rows {
                table.append([
                    row.relay.id.rawValue + (row.draining == true ? " (draining)" : ""),
                    row.relay.endpoint.description,
                    row.agentCount.map(String.init) ?? "?",
                    age(since: row.relay.lastHeartbeat, now: now),
                    row.expires.map { timeLeft(until: $0, now: now) } ?? "?",
                ])
            }
            print(table.render(), terminator: "")
            print("\(rows.count) live relay\(rows.count == 1 ? "" : "s")")
        }
    }
}

/// A relay as `relays` shows it.
struct RelayRow: Sendable {
    var relay: Relay
    var expires: UnixMilliseconds?
    var agentCount: Int?
    /// Nil from servers without the fleet service.
    var draining: Bool?
    var asOf: UnixMilliseconds
}

struct ListAgents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "List live agents and the relays that own them.",
        discussion: """
            Pages through ListPlacements: one call per 1,000 agents. Against a server without \
            the fleet service (the Go registry), ListAgents and one placement lookup per agent.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Only agents placed on this relay.")
    var relay: String?

    func run() async throws {
        let (rows, asOf) = try await self.connection.withClient { client -> ([FleetPlacement], UnixMilliseconds?) in
            do {
                var rows: [FleetPlacement] = []
                var token: String?
                var asOf: UnixMilliseconds?
                repeat {
                    let page = try await client.fleet.listPlacements(relayID: self.relay, pageToken: token)
                    rows += page.page
                    asOf = asOf ?? page.asOf
                    token = page.nextPageToken
                } while token != nil
                return (rows, asOf)
            } catch let error as RPCError where error.code == .unimplemented {
                return try await self.v1Rows(client)
            }
        }
        let now = asOf ?? SystemWallClock().now()
        switch self.connection.output {
        case .json:
            printJSON(rows.map { placement in
                AgentJSON(
                    agentID: placement.agentID.rawValue,
                    relayID: placement.relayID.rawValue,
                    lastHeartbeatUnixMs: placement.lastHeartbeat.rawValue,
                    expiresUnixMs: placement.expires.rawValue
                )
            })
        case .table:
            var table = Table(headers: ["AGENT", "RELAY", "LAST HEARTBEAT", "TIME LEFT"])
            for placement in rows {
                table.append([
                    placement.agentID.rawValue,
                    placement.relayID.rawValue,
                    age(since: placement.lastHeartbeat, now: now),
                    timeLeft(until: placement.expires, now: now),
                ])
            }
            print(table.render(), terminator: "")
            print("\(rows.count) live agent\(rows.count == 1 ? "" : "s")")
        }
    }

    /// The v1 way: ListAgents, then each agent's placement. An agent can expire between
    /// the list and its lookup; it is then left out.
    private func v1Rows(_ client: RegistryClient) async throws -> ([FleetPlacement], UnixMilliseconds?) {
        let listing = try await client.listAgents()
        let placements = try await placementsOf(listing.entries.map(\.id.rawValue), client: client)
        let rows = listing.entries.compactMap { agent -> FleetPlacement? in
            guard let placement = placements[agent.id] else { return nil }
            if let relay = self.relay, placement.relayID.rawValue != relay { return nil }
            let expires = listing.timing.agentTTL.map { agent.lastHeartbeat.advanced(by: $0) } ?? agent.lastHeartbeat
            return FleetPlacement(
                agentID: agent.id, relayID: placement.relayID, lastHeartbeat: agent.lastHeartbeat,
                expires: expires, relayIncarnation: RelayIncarnation(0)
            )
        }
        return (rows, listing.timing.asOf)
    }
}

struct ShowPlacements: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placements",
        abstract: "Show which relays own several agents, in one GetPlacements call per 1,000."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The agents' IDs.")
    var agentIDs: [String]

    func run() async throws {
        let lookups = try await self.connection.withClient { client in
            var lookups: [PlacementLookup] = []
            var remaining = self.agentIDs[...]
            while !remaining.isEmpty {
                lookups.append(try await client.fleet.placements(of: Array(remaining.prefix(1_000))))
                remaining = remaining.dropFirst(1_000)
            }
            return lookups
        }
        let found = lookups.flatMap(\.placements)
        let missing = lookups.flatMap(\.missing)
        let now = lookups.first?.asOf ?? SystemWallClock().now()
        switch self.connection.output {
        case .json:
            printJSON(
                PlacementsJSON(
                    placements: found.map {
                        AgentJSON(agentID: $0.agentID.rawValue, relayID: $0.relayID.rawValue, lastHeartbeatUnixMs: $0.lastHeartbeat.rawValue, expiresUnixMs: $0.expires.rawValue)
                    },
                    missingAgentIDs: missing.map(\.rawValue)
                )
            )
        case .table:
            var table = Table(headers: ["AGENT", "RELAY", "LAST HEARTBEAT", "TIME LEFT"])
            for placement in found {
                table.append([
                    placement.agentID.rawValue,
                    placement.relayID.rawValue,
                    age(since: placement.lastHeartbeat, now: now),
                    timeLeft(until: placement.expires, now: now),
                ])
            }
            for agent in missing {
                table.append([agent.rawValue, "-", "-", "not live"])
            }
            print(table.render(), terminator: "")
            print("\(found.count) live, \(missing.count) not live")
        }
    }
}

/// Placements of `agents`, at most 32 lookups in flight; agents no longer live are absent.
func placementsOf(_ agents: [String], client: RegistryClient) async throws -> [AgentID: AgentPlacement] {
    try await withThrowingTaskGroup(of: AgentPlacement?.self) { group in
        var placements: [AgentID: AgentPlacement] = [:]
        var pending = agents[...]
        func startNext() {
            guard let agent = pending.popFirst() else { return }
            group.addTask {
                do {
                    return try await client.placement(of: agent).placement
                } catch let error as RPCError where error.code == .notFound {
                    return nil
                }
            }
        }
        for _ in 0..<32 { startNext() }
        while let result = try await group.next() {
            if let placement = result {
                placements[placement.agentID] = placement
            }
            startNext()
        }
        return placements
    }
}

struct ShowPlacement: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "placement", abstract: "Show which relay owns an agent.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The agent's ID.")
    var agentID: String

    func run() async throws {
        let (placement, timing) = try await self.connection.withClient { try await $0.placement(of: self.agentID) }
        let now = timing.asOf ?? SystemWallClock().now()
        switch self.connection.output {
        case .json:
            printJSON(
                PlacementJSON(
                    agentID: placement.agentID.rawValue,
                    relayID: placement.relayID.rawValue,
                    lastUpdatedUnixMs: placement.lastUpdated.rawValue,
                    expiresUnixMs: timing.agentTTL.map { placement.lastUpdated.advanced(by: $0).rawValue }
                )
            )
        case .table:
            var table = Table(headers: ["AGENT", "RELAY", "LAST UPDATED", "TIME LEFT"])
            table.append([
                placement.agentID.rawValue,
                placement.relayID.rawValue,
                age(since: placement.lastUpdated, now: now),
                timeLeft(after: placement.lastUpdated, ttl: timing.agentTTL, now: now),
            ])
            print(table.render(), terminator: "")
        }
    }
}
