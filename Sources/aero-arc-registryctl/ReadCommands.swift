import ArgumentParser
import Foundation
import GRPCCore
import RegistryClient
import RegistryCore

struct ListRelays: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "relays", abstract: "List live relays.")

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let listing = try await self.connection.withClient { try await $0.listRelays() }
        let now = listing.timing.asOf ?? SystemWallClock().now()
        switch self.connection.output {
        case .json:
            printJSON(listing.entries.map { relay in
                RelayJSON(
                    relayID: relay.id.rawValue,
                    address: relay.endpoint.address,
                    grpcPort: relay.endpoint.grpcPort,
                    lastHeartbeatUnixMs: relay.lastHeartbeat.rawValue,
                    expiresUnixMs: listing.timing.relayTTL.map { relay.lastHeartbeat.advanced(by: $0).rawValue }
                )
            })
        case .table:
            var table = Table(headers: ["RELAY", "ENDPOINT", "LAST HEARTBEAT", "TIME LEFT"])
            for relay in listing.entries {
                table.append([
                    relay.id.rawValue,
                    relay.endpoint.description,
                    age(since: relay.lastHeartbeat, now: now),
                    timeLeft(after: relay.lastHeartbeat, ttl: listing.timing.relayTTL, now: now),
                ])
            }
            print(table.render(), terminator: "")
            print("\(listing.entries.count) live relay\(listing.entries.count == 1 ? "" : "s")")
        }
    }
}

struct ListAgents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "List live agents and the relays that own them.",
        discussion: "ListAgents does not carry relays, so each agent's placement is fetched too, several at a time."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Only agents placed on this relay.")
    var relay: String?

    func run() async throws {
        let (listing, placements) = try await self.connection.withClient { client in
            let listing = try await client.listAgents()
            let placements = try await placementsOf(listing.entries.map(\.id.rawValue), client: client)
            return (listing, placements)
        }
        let now = listing.timing.asOf ?? SystemWallClock().now()
        // An agent can expire between the list and its placement lookup; it is then left out.
        let rows = listing.entries.compactMap { agent -> (ListedAgent, AgentPlacement)? in
            guard let placement = placements[agent.id] else { return nil }
            if let relay = self.relay, placement.relayID.rawValue != relay { return nil }
            return (agent, placement)
        }
        switch self.connection.output {
        case .json:
            printJSON(rows.map { agent, placement in
                AgentJSON(
                    agentID: agent.id.rawValue,
                    relayID: placement.relayID.rawValue,
                    lastHeartbeatUnixMs: agent.lastHeartbeat.rawValue,
                    expiresUnixMs: listing.timing.agentTTL.map { agent.lastHeartbeat.advanced(by: $0).rawValue }
                )
            })
        case .table:
            var table = Table(headers: ["AGENT", "RELAY", "LAST HEARTBEAT", "TIME LEFT"])
            for (agent, placement) in rows {
                table.append([
                    agent.id.rawValue,
                    placement.relayID.rawValue,
                    age(since: agent.lastHeartbeat, now: now),
                    timeLeft(after: agent.lastHeartbeat, ttl: listing.timing.agentTTL, now: now),
                ])
            }
            print(table.render(), terminator: "")
            print("\(rows.count) live agent\(rows.count == 1 ? "" : "s")")
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
