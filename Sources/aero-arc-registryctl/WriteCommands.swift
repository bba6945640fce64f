import ArgumentParser
import RegistryClient

struct RegisterRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "register-relay", abstract: "Register (or renew) a relay.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The relay's ID.")
    var relayID: String

    @Option(help: "Host name or IP address agents connect to.")
    var address: String

    @Option(help: "gRPC port agents connect to.")
    var port: Int

    func run() async throws {
        try await self.connection.withClient { try await $0.registerRelay(id: self.relayID, address: self.address, grpcPort: self.port) }
        report(self.connection.output, "registered relay \(self.relayID)", ["relay_id": self.relayID])
    }
}

struct HeartbeatRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "heartbeat-relay", abstract: "Renew a live relay.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The relay's ID.")
    var relayID: String

    func run() async throws {
        try await self.connection.withClient { try await $0.heartbeatRelay(id: self.relayID) }
        report(self.connection.output, "renewed relay \(self.relayID)", ["relay_id": self.relayID])
    }
}

struct RegisterAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "register-agent", abstract: "Place an agent on a live relay.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The agent's ID.")
    var agentID: String

    @Option(help: "The relay that owns the agent.")
    var relay: String

    func run() async throws {
        try await self.connection.withClient { try await $0.registerAgent(id: self.agentID, relayID: self.relay) }
        report(self.connection.output, "placed agent \(self.agentID) on relay \(self.relay)", ["agent_id": self.agentID, "relay_id": self.relay])
    }
}

struct HeartbeatAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "heartbeat-agent", abstract: "Renew a live agent.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The agent's ID.")
    var agentID: String

    @Option(help: "Only renew if the agent is placed on this relay.")
    var relay: String?

    func run() async throws {
        try await self.connection.withClient { try await $0.heartbeatAgent(id: self.agentID, relayID: self.relay) }
        var fields = ["agent_id": self.agentID]
        fields["relay_id"] = self.relay
        report(self.connection.output, "renewed agent \(self.agentID)", fields)
    }
}

/// Confirms a change: a sentence for people, an object for scripts.
func report(_ output: OutputFormat, _ sentence: String, _ fields: [String: String]) {
    switch output {
    case .table: print(sentence)
    case .json: printJSON(fields.merging(["result": "ok"]) { current, _ in current })
    }
}
