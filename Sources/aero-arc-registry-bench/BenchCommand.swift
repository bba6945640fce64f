import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import RegistryBench
import RegistryClient
import RegistryCore
import RegistryServer

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aero-arc-registry-bench",
        abstract: "Load generator for an Aero Arc registry, with a noop gRPC baseline.",
        subcommands: [Run.self, NoopServer.self],
        defaultSubcommand: Run.self
    )
}

/// Drives a running registry and prints (and optionally saves) the figures.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Benchmark a running registry (the default command).",
        discussion: """
            The noop baseline is a trivial gRPC service on the same transport and defaults, \
            which this tool starts as a child process, so that every figure can be read as a \
            fraction of what the gRPC stack allows on this machine in this run.
            """
    )

    @Option(help: "The registry, as host:port.")
    var server = "127.0.0.1:50051"

    @Option(name: .customLong("tls-ca-path"), help: "Connect to the registry with TLS, trusting these PEM certificates.")
    var tlsCAPath: String?

    @Option(name: .customLong("tls-cert-path"), help: "A PEM client certificate, for a registry with mutual TLS (with --tls-key-path).")
    var tlsCertPath: String?

    @Option(name: .customLong("tls-key-path"), help: "The client certificate's PEM private key.")
    var tlsKeyPath: String?

    @Option(help: "A bearer token sent with every call, for a registry with --auth-file. (env AERO_ARC_REGISTRY_TOKEN)")
    var token: String?

    @Option(help: "The registry's process ID, for its memory and CPU (when it runs on this machine).")
    var serverPID: Int32?

    @Option(help: "Comma-separated scenarios: \(Scenario.allCases.map(\.rawValue).joined(separator: ", ")). Default: the standard set (all but expiry and outage).")
    var scenarios: String?

    @Option(help: "Measured time per run, e.g. 10s.")
    var duration = "10s"

    @Option(help: "Unmeasured time before each run.")
    var warmup = "2s"

    @Option(help: "Closed-loop callers.")
    var concurrency = 64

    @Option(help: "Connections the callers share (as many again to the noop server).")
    var connections = 4

    @Option(help: "Comma-separated fractions of closed-loop throughput for open-loop runs (noop, heartbeat-agent, get-placement).")
    var openLoop = "0.5"

    @Option(help: "Relays to preload.")
    var relays = 1_000

    @Option(help: "Agents to preload.")
    var agents = 100_000

    @Option(help: "Fleet scenario: heartbeat interval of every relay and agent.")
    var fleetInterval = "10s"

    @Option(help: "Fleet scenario: placement reads per second.")
    var fleetReads = 1_000.0

    @Option(help: "Outage drill: the process ID of the store (redis-server, etcd) to pause.")
    var storePid: Int32?

    @Option(help: "Outage drill: how long to pause the store.")
    var outage = "7s"

    @Option(help: "A label for the report, e.g. the backend's name.")
    var label = "registry"

    @Option(help: "Also write the report as JSON to this file.")
    var json: String?

    @Flag(help: "Fail (exit 1) if any call failed: for smoke runs.")
    var failOnErrors = false

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .info
        var configuration = BenchConfiguration()
        configuration.duration = try parseDuration(self.duration, "--duration")
        configuration.warmup = try parseDuration(self.warmup, "--warmup")
        configuration.fleetInterval = try parseDuration(self.fleetInterval, "--fleet-interval")
        if let scenarios {
            configuration.scenarios = try scenarios.split(separator: ",").map { name in
                guard let scenario = Scenario(rawValue: String(name)) else {
                    throw ValidationError("unknown scenario '\(name)'")
                }
                return scenario
            }
        }
        configuration.openLoopFractions = self.openLoop.split(separator: ",").compactMap { Double($0) }
        configuration.concurrency = self.concurrency
        configuration.connections = self.connections
        configuration.relays = self.relays
        configuration.agents = self.agents
        configuration.fleetReadsPerSecond = self.fleetReads
        configuration.serverPID = self.serverPID
        configuration.storePID = self.storePid
        configuration.outage = try parseDuration(self.outage, "--outage")
        let address = try hostAndPort(self.server)
        let tls = (self.tlsCAPath ?? self.tlsCertPath).map { _ in
            ServerTarget.TLS(caPath: self.tlsCAPath, certificatePath: self.tlsCertPath, keyPath: self.tlsKeyPath)
        }
        var registry = try ServerTarget(parsing: "\(address.host.contains(":") ? "[\(address.host)]" : address.host):\(address.port)", tls: tls)
        registry.token = self.token ?? ProcessInfo.processInfo.environment["AERO_ARC_REGISTRY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }

        let noopChild = configuration.scenarios.contains(.noop) ? try NoopChild.start() : nil
        defer { noopChild?.stop() }

        let startedAt = ISO8601DateFormatter().string(from: Date())
        let (measurements, resident) = try await withBenchTarget(
            registry: registry,
            noop: noopChild.map { ("127.0.0.1", $0.port) },
            connections: configuration.connections
        ) { target in
            try await BenchRunner(configuration: configuration, target: target, logger: logger).run()
        }
        let report = BenchReport(
            label: self.label,
            startedAt: startedAt,
            machine: machineDescription(),
            server: self.server + (self.serverPID.map { " (pid \($0))" } ?? ""),
            fleet: "\(configuration.relays) relays, \(configuration.agents) agents",
            serverResidentBytesAfterPreload: resident,
            serverPeakResidentBytes: self.serverPID.flatMap(ProcessStats.read(pid:))?.peakResidentBytes,
            measurements: measurements
        )
        print(report.table(), terminator: "")
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        let failures = measurements.reduce(0) { $0 + $1.errors.values.reduce(0, +) }
        if self.failOnErrors && failures > 0 {
            FileHandle.standardError.write(Data("aero-arc-registry-bench: \(failures) calls failed\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// The noop baseline server, run as a child process of the bench (`noop-server`).
struct NoopServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noop-server",
        abstract: "Serve the noop baseline (started by the bench itself).",
        shouldDisplay: false
    )

    @Option(help: "Port to listen on; 0 picks a free one, printed on standard output.")
    var port = 0

    func run() async throws {
        // The registry's transport configuration (stream limit, keepalive), so the baseline
        // differs from the registry only in what the calls do.
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: self.port),
            transportSecurity: .plaintext,
            config: GRPCSettings().transportConfig
        )
        let server = GRPCServer(transport: transport, services: [NoopService()])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            let address = try await transport.listeningAddress
            // Unbuffered, so the parent reads it at once.
            FileHandle.standardOutput.write(Data("listening \(address.ipv4?.port ?? 0)\n".utf8))
        }
    }
}

func parseDuration(_ text: String, _ flag: String) throws -> Duration {
    guard let value = Duration(goSyntax: text), value >= .zero else {
        throw ValidationError("invalid \(flag) '\(text)': expected a duration such as 10s")
    }
    return value
}

func hostAndPort(_ text: String) throws -> (host: String, port: Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
        throw ValidationError("invalid --server '\(text)': expected host:port")
    }
    return (String(text[..<colon]), port)
}

/// "2 cores, 23.4 GiB, Linux 6.1.0 x86_64".
func machineDescription() -> String {
    let info = ProcessInfo.processInfo
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let memory = Double(info.physicalMemory) / 1_073_741_824
    return "\(info.activeProcessorCount) cores, \(String(format: "%.1f", memory)) GiB, Linux \(release) \(machine)"
}
