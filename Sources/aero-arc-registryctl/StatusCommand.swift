import ArgumentParser
import RegistryClient
import RegistryCore

/// `status`: what the server is, its store's state, limits, the fleet's size and the
/// last outage, from one GetStatus call.
struct ShowStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the registry's status: store, limits, fleet and outages.")

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let status = try await self.connection.withClient { try await $0.admin.status() }
        switch self.connection.output {
        case .json:
            printJSON(status)
        case .table:
            let now = UnixMilliseconds(status.serverTimeUnixMs)
            var table = Table(headers: ["FIELD", "VALUE"])
            table.append(["version", status.version])
            table.append(["up for", humanDuration(now.duration(since: UnixMilliseconds(status.startedUnixMs)))])
            var store = "\(status.store.backend), " + (status.store.up ? "up" : "DOWN")
            if let since = status.store.downSinceUnixMs, since > 0 {
                store += " for \(humanDuration(now.duration(since: UnixMilliseconds(since))))"
            }
            table.append(["store", store])
            if let error = status.store.lastError {
                table.append(["store error", error])
            }
            table.append(["ttls", "relay \(humanDuration(.milliseconds(status.relayTTLMs))), agent \(humanDuration(.milliseconds(status.agentTTLMs)))"])
            table.append(["limits", "\(status.maxRelays) relays, \(status.maxAgents) agents"])
            if let fleet = status.fleet {
                table.append(["live", "\(fleet.relays) relays, \(fleet.agents) agents (counted \(age(since: UnixMilliseconds(fleet.asOfUnixMs), now: now)))"])
            } else {
                table.append(["live", "not counted yet"])
            }
            table.append(["outages", "\(status.store.outages) ended since start"])
            if let outage = status.lastOutage {
                table.append([
                    "last outage",
                    "ended \(age(since: UnixMilliseconds(outage.endedUnixMs), now: now)), lasted \(humanDuration(.milliseconds(outage.lengthMs))), grace \(humanDuration(.milliseconds(outage.graceMs)))",
                ])
            }
            let grace = status.outageGraceMaxMs > 0 ? "up to \(humanDuration(.milliseconds(status.outageGraceMaxMs)))" : "off"
            table.append(["outage grace", grace])
            table.append(["stale reads", status.staleReads ? "on" : "off"])
            print(table.render(), terminator: "")
        }
    }
}
