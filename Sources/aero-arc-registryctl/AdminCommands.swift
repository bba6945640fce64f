import ArgumentParser
import Crypto
import Foundation
import RegistryClient

struct DeregisterRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deregister-relay",
        abstract: "End a live relay and its agents at once (a planned relay shutdown).",
        discussion: "Needs an admin credential, or the relay's own."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The relay's ID.")
    var relayID: String

    func run() async throws {
        let removed = try await self.connection.withClient { try await $0.admin.deregisterRelay(id: self.relayID) }
        report(
            self.connection.output,
            "deregistered relay \(self.relayID) and its \(removed) live agent\(removed == 1 ? "" : "s")",
            ["relay_id": self.relayID, "agents_removed": "\(removed)"]
        )
    }
}

struct DeregisterAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deregister-agent",
        abstract: "End a live agent's placement at once (it disconnected cleanly).",
        discussion: "Needs an admin credential, or (with --relay) its relay's."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The agent's ID.")
    var agentID: String

    @Option(help: "Only if the agent is placed on this relay.")
    var relay: String?

    func run() async throws {
        try await self.connection.withClient { try await $0.admin.deregisterAgent(id: self.agentID, relayID: self.relay) }
        report(self.connection.output, "deregistered agent \(self.agentID)", ["agent_id": self.agentID, "relay_id": self.relay ?? ""])
    }
}

struct DrainRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain-relay",
        abstract: "Stop new placements onto a live relay; it keeps its agents (rolling upgrades).",
        discussion: "Needs an admin credential."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The relay's ID.")
    var relayID: String

    func run() async throws {
        try await self.connection.withClient { try await $0.admin.drainRelay(id: self.relayID) }
        report(self.connection.output, "relay \(self.relayID) is draining", ["relay_id": self.relayID])
    }
}

struct UndrainRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undrain-relay",
        abstract: "Let a drained relay take placements again.",
        discussion: "Needs an admin credential."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The relay's ID.")
    var relayID: String

    func run() async throws {
        try await self.connection.withClient { try await $0.admin.undrainRelay(id: self.relayID) }
        report(self.connection.output, "relay \(self.relayID) takes placements again", ["relay_id": self.relayID])
    }
}

struct Auth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Help with the registry's --auth-file.",
        subcommands: [HashToken.self]
    )

    struct HashToken: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-token",
            abstract: "Print the policy-file entry for a token: its SHA-256, never the token itself.",
            discussion: """
                Reads the token from standard input (so it stays out of shell history), or makes a \
                new random one with --generate and prints it once on standard error.
                """
        )

        @Option(help: "The role to put in the entry: reader, relay or admin.")
        var role: String = "reader"

        @Option(name: .customLong("relay-id"), help: "A relay ID (or prefix ending in *) the relay role may speak for; repeatable.")
        var relayIDs: [String] = []

        @Flag(help: "Make a new random token (256 bits, base64url) instead of reading one.")
        var generate = false

        func run() throws {
            let token: String
            if self.generate {
                var generator = SystemRandomNumberGenerator()
                let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
                token = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
                FileHandle.standardError.write(Data("token (shown once): \(token)\n".utf8))
            } else {
                let input = FileHandle.standardInput.readDataToEndOfFile()
                token = String(decoding: input, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !token.isEmpty else {
                    fail("no token on standard input (or pass --generate)")
                }
            }
            let digest = SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
            var entry: [String: Any] = ["sha256": digest, "role": self.role]
            if !self.relayIDs.isEmpty { entry["relay_ids"] = self.relayIDs }
            let json = (try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])) ?? Data()
            print(String(decoding: json, as: UTF8.self))
        }
    }
}
