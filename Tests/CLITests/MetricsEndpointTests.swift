import Foundation
import NIOCore
import NIOPosix
import RegistryTestKit
import Testing

/// `--metrics-port`: Prometheus metrics over HTTP from the real executable, scraped as
/// Prometheus does, after traffic whose counts are known.
@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    let cli = CLITests()

    /// Starts the server with metrics on a free port; returns it, its gRPC port and the metrics port.
    func startWithMetrics(_ extra: [String] = []) async throws -> (ChildProcess, Int, Int) {
        let (server, port) = try await self.cli.startServer(["--metrics-listen-address", "127.0.0.1", "--metrics-port", "0"] + extra)
        let line = try await server.waitForStandardErrorLine { $0.contains("\"metrics listening\"") }
        let fields = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        let raw = fields?["metrics_port"] as? String
        let metricsPort = try #require(raw.flatMap { Int($0) })
        return (server, port, metricsPort)
    }

    /// Sends `request` as raw bytes and returns everything the server answers until it
    /// closes (or resets) the connection, or 5 s pass.
    static func raw(_ request: String, port: Int) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var answer = ""
            let deadline = ContinuousClock.now + .seconds(5)
            do {
                for try await chunk in inbound {
                    answer += String(buffer: chunk)
                    if ContinuousClock.now > deadline { break }
                }
            } catch {
                // A server closing on a bad request may reset the connection: what it
                // answered before is the answer.
            }
            return answer
        }
    }

    /// One scrape: the body of `GET /metrics`.
    static func scrape(_ port: Int) async throws -> String {
        let answer = try await Self.raw("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", port: port)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(answer.prefix(200))")
        #expect(answer.contains("text/plain; version=0.0.4"))
        return answer.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
    }

    /// The value of the series `name{labels}` in a scrape (labels as written, in order).
    static func value(_ scrape: String, _ series: String) -> Double? {
        scrape.split(separator: "\n").first { $0.hasPrefix(series + " ") }
            .flatMap { $0.split(separator: " ").last }
            .flatMap { Double($0) }
    }

    @Test("counters move by exactly the traffic sent, with methods and codes labelled; histograms are populated")
    func countsTraffic() async throws {
        let (server, port, metricsPort) = try await self.startWithMetrics()
        defer { server.signal(SIGKILL) }
        #expect(try await self.cli.runCtl(port, ["register-relay", "relay-1", "--address", "10.0.0.1", "--port", "7000"]).status == 0)
        for _ in 0..<3 {
            #expect(try await self.cli.runCtl(port, ["heartbeat-relay", "relay-1"]).status == 0)
        }
        for _ in 0..<2 {
            #expect(try await self.cli.runCtl(port, ["heartbeat-relay", "relay-unknown"]).status == 1)
        }
        let scrape = try await Self.scrape(metricsPort)
        let labels = #"grpc_type="unary",grpc_service="aeroarc.registry.v1.AeroRegistry",grpc_method="HeartbeatRelay""#
        #expect(Self.value(scrape, "grpc_server_started_total{\(labels)}") == 5)
        #expect(Self.value(scrape, "grpc_server_handled_total{\(labels),grpc_code=\"OK\"}") == 3)
        #expect(Self.value(scrape, "grpc_server_handled_total{\(labels),grpc_code=\"NotFound\"}") == 2)
        #expect(Self.value(scrape, "grpc_server_handling_seconds_count{\(labels)}") == 5)
        #expect(scrape.contains("grpc_server_handling_seconds_bucket{\(labels),le=\"0.005\"}"))
        #expect(Self.value(scrape, #"aero_arc_registry_store_operation_seconds_count{backend="memory",operation="heartbeat_relay"}"#) == 5)
        #expect(Self.value(scrape, #"aero_arc_registry_store_up{backend="memory"}"#) == 1)
        #expect((Self.value(scrape, "process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect((Self.value(scrape, "process_open_fds") ?? 0) > 0)
        #expect(Self.value(scrape, "process_start_time_seconds") != nil)
        #expect(Self.value(scrape, "process_cpu_seconds_total") != nil)
    }

    @Test("metrics are off by default: nothing else listens and nothing says so")
    func offByDefault() async throws {
        let (server, port) = try await self.cli.startServer()
        defer { server.signal(SIGKILL) }
        #expect(try await self.cli.runCtl(port, ["relays"]).status == 0)
        #expect(!server.standardError.contains("metrics listening"))
    }

    @Test("a bad metrics flag stops the server with one line naming it")
    func badFlag() async throws {
        for arguments in [["--metrics-port", "70000"], ["--metrics-listen-address", "not-an-ip"]] {
            let result = try await ChildProcess.run(self.cli.server, ["--grpc-listen-port", "0"] + arguments)
            #expect(result.status != 0)
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains(arguments[0]), "\(result.stderr)")
        }
    }

    @Test("garbage, wrong paths and methods, and a stuck client do not stop scrapes")
    func survivesBadClients() async throws {
        let (server, _, metricsPort) = try await self.startWithMetrics()
        defer { server.signal(SIGKILL) }
        // A client that sends half a request and waits holds only its own connection.
        let stuck = Task { try await Self.raw("GET /metr", port: metricsPort) }
        defer { stuck.cancel() }
        let garbage = try await Self.raw("\u{01}\u{02} not http at all\r\n\r\n", port: metricsPort)
        #expect(garbage.isEmpty || garbage.hasPrefix("HTTP/1.1 400"), "\(garbage.prefix(100))")
        let wrongPath = try await Self.raw("GET /admin HTTP/1.1\r\nConnection: close\r\n\r\n", port: metricsPort)
        #expect(wrongPath.hasPrefix("HTTP/1.1 404"))
        let wrongMethod = try await Self.raw("DELETE /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", port: metricsPort)
        #expect(wrongMethod.hasPrefix("HTTP/1.1 405"))
        let huge = try await Self.raw("GET /metrics HTTP/1.1\r\nX: \(String(repeating: "a", count: 200_000))\r\n\r\n", port: metricsPort)
        #expect(!huge.hasPrefix("HTTP/1.1 200"), "an oversized request is refused")
        _ = try await Self.scrape(metricsPort)
    }
}
