import ArgumentParser
import Foundation
import GRPCCore
import RegistryClient
import RegistryCore

@main
struct RegistryCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aero-arc-registryctl",
        abstract: "Inspect and drive an Aero Arc relay registry.",
        discussion: "The server defaults to 127.0.0.1:50051 (env AERO_ARC_REGISTRY_SERVER).",
        subcommands: [
            ListRelays.self, ListAgents.self, ShowPlacement.self, ShowPlacements.self, ShowStatus.self,
            RegisterRelay.self, HeartbeatRelay.self, RegisterAgent.self, HeartbeatAgent.self,
            DeregisterRelay.self, DeregisterAgent.self, DrainRelay.self, UndrainRelay.self, Auth.self,
        ]
    )
}

/// Options every subcommand takes.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Registry address as host:port. (default: 127.0.0.1:50051; env AERO_ARC_REGISTRY_SERVER)")
    var server: String?

    @Option(help: "Output format: table or json.")
    var output: OutputFormat = .table

    @Flag(help: "Connect with TLS.")
    var tls = false

    @Option(name: .customLong("tls-ca-path"), help: "PEM certificates to trust instead of the system roots (implies --tls).")
    var tlsCAPath: String?

    @Option(name: .customLong("tls-cert-path"), help: "PEM client certificate, for a registry that requires one (implies --tls).")
    var tlsCertPath: String?

    @Option(name: .customLong("tls-key-path"), help: "PEM private key of the client certificate.")
    var tlsKeyPath: String?

    @Option(help: "Bearer token for a registry with --auth-file. (env AERO_ARC_REGISTRY_TOKEN; prefer the variable: flags show in ps)")
    var token: String?

    @Option(help: "Deadline for each call, e.g. 5s.")
    var timeout: String = "10s"

    /// Runs `body` with a client, turning any failure into one line and exit code 1.
    func withClient<Result: Sendable>(_ body: (RegistryClient) async throws -> Result) async throws -> Result {
        let raw = self.server ?? ProcessInfo.processInfo.environment["AERO_ARC_REGISTRY_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ServerTarget.defaultTarget
        guard let timeout = Duration(goSyntax: self.timeout), timeout > .zero else {
            fail("invalid --timeout '\(self.timeout)': expected a duration such as 5s")
        }
        let target: ServerTarget
        do {
            guard (self.tlsCertPath == nil) == (self.tlsKeyPath == nil) else {
                fail("--tls-cert-path and --tls-key-path go together")
            }
            let tls =
                (self.tls || self.tlsCAPath != nil || self.tlsCertPath != nil)
                ? ServerTarget.TLS(caPath: self.tlsCAPath, certificatePath: self.tlsCertPath, keyPath: self.tlsKeyPath) : nil
            let token = self.token ?? ProcessInfo.processInfo.environment["AERO_ARC_REGISTRY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            target = try ServerTarget(parsing: raw, tls: tls, token: token)
        } catch {
            fail(error.message)
        }
        do {
            return try await withRegistryClient(target: target, timeout: timeout, body)
        } catch let error as RPCError {
            switch error.code {
            case .unavailable where error.cause != nil:
                // Raised by this client's transport: the connection failed.
                fail("cannot reach the registry at \(target): \(error.message)")
            case .unavailable:
                // Sent by the registry: it is up, but its storage is not.
                fail("the registry at \(target) is up but unavailable: \(error.message)")
            case .deadlineExceeded:
                fail("the registry at \(target) did not answer within \(timeout.goDescription)")
            default:
                fail("\(error.code.wireName): \(error.message)")
            }
        } catch {
            fail("\(error)")
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Prints one line to standard error and exits with status 1.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("aero-arc-registryctl: \(message)\n".utf8))
    exit(1)
}

extension RPCError.Code {
    /// The status name as gRPC tools print it: NOT_FOUND, INVALID_ARGUMENT, ...
    var wireName: String {
        var name = ""
        for character in "\(self)" {
            if character.isUppercase, !name.isEmpty {
                name.append("_")
            }
            name.append(character.uppercased())
        }
        return name == "INTERNAL_ERROR" ? "INTERNAL" : name
    }
}
