public import ArgumentParser
import GRPCCore
import Logging

/// `aero-arc-registry`: parses flags and environment, then runs the registry until
/// SIGINT or SIGTERM.
public struct RegistryCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "aero-arc-registry",
        abstract: "The Aero Arc relay registry: which relays are live and which relay owns each agent, over gRPC.",
        discussion: """
            Every flag can also be set through an environment variable named \
            AERO_ARC_REGISTRY_ followed by the flag in upper snake case, e.g. \
            AERO_ARC_REGISTRY_RELAY_TTL=45s. A flag on the command line wins. Durations use \
            Go's syntax: 500ms, 30s, 1m30s. Go-style single-dash flags (-relay-ttl 45s) and \
            --tls-enabled=true|false are accepted too.
            """
    )

    @OptionGroup public var options: ServerOptions

    public init() {}

    /// Runs the server with these arguments (without the program name) and environment,
    /// and returns the process exit code: 0 after a graceful shutdown, 64 for bad
    /// configuration (after one line saying what is wrong), 1 when the server fails.
    public static func main(arguments: [String], environment: [String: String]) async -> Int32 {
        let normalized = GoFlagSyntax.normalize(arguments, booleanFlags: ServerOptions.booleanFlags)
        let command: RegistryCommand
        do {
            command = try Self.parse(normalized)
        } catch {
            let code = Self.exitCode(for: error)
            if code == .success {
                print(Self.fullMessage(for: error))
                return 0
            }
            printError("\(Self.message(for: error)) (see --help)")
            return 64
        }

        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration(options: command.options, environment: environment)
        } catch {
            printError(error.message)
            return 64
        }

        let format = configuration.logFormat
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                switch format {
                case .text: StreamLogHandler.standardError(label: label)
                case .json: JSONLogHandler(label: label)
                }
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "aero-arc-registry")
        for warning in configuration.warnings + (configuration.exposureWarning.map { [$0] } ?? []) {
            logger.warning("\(warning)")
        }

        let application: RegistryApplication
        do {
            application = try RegistryApplication(configuration: configuration, logger: logger)
        } catch let error as ConfigurationError {
            printError(error.message)
            return 64
        } catch {
            printError("cannot start: \(describe(error))")
            return 1
        }

        do {
            try await application.run()
            logger.info("aero-arc-registry stopped")
            return 0
        } catch {
            logger.error("aero-arc-registry failed", metadata: ["error": "\(describe(error))"])
            printError(describe(error))
            return 1
        }
    }
}

/// One line to standard error, prefixed with the program name.
private func printError(_ message: String) {
    var line = "aero-arc-registry: \(message)\n"
    line.withUTF8 { buffer in
        _ = writeToStandardError(buffer)
    }
}

/// An error and its causes on one line: "server transport threw an error: bind(…) failed: Address already in use".
func describe(_ error: any Error) -> String {
    var parts: [String] = []
    var current: (any Error)? = error
    while let error = current, parts.count < 6 {
        switch error {
        case let runtime as RuntimeError:
            parts.append(runtime.message)
            current = runtime.cause
        case let rpc as RPCError:
            parts.append("\(rpc.code): \(rpc.message)")
            current = rpc.cause
        default:
            parts.append("\(error)")
            current = nil
        }
    }
    return parts.filter { !$0.isEmpty }.joined(separator: ": ")
}
