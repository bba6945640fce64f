import ArgumentParser
import Logging
import RegistryCore
@testable import RegistryServer
import Testing

@Suite("Server configuration")
struct ServerConfigurationTests {
    func configuration(_ arguments: [String], environment: [String: String] = [:]) throws -> ServerConfiguration {
        let options = try ServerOptions.parse(GoFlagSyntax.normalize(arguments, booleanFlags: ServerOptions.booleanFlags))
        return try ServerConfiguration(options: options, environment: environment)
    }

    func error(_ arguments: [String], environment: [String: String] = [:]) -> String? {
        do {
            _ = try self.configuration(arguments, environment: environment)
            return nil
        } catch let error as ConfigurationError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test("defaults are the Go registry's")
    func defaults() throws {
        let configuration = try self.configuration([])
        #expect(configuration.backend == .memory)
        #expect(configuration.listenAddress == "0.0.0.0")
        #expect(configuration.listenPort == 50051)
        #expect(configuration.tls == nil)
        #expect(configuration.ttl == (try TTLPolicy(relayTTL: .seconds(30), agentTTL: .seconds(30))))
        #expect(configuration.heartbeatInterval == .seconds(1))
        #expect(configuration.redis == RedisSettings(host: "localhost", port: 6379, user: "default", password: nil, database: 0))
        #expect(configuration.shutdownTimeout == .seconds(30))
        #expect(configuration.logLevel == .info)
        #expect(configuration.logFormat == .text)
        #expect(configuration.warnings.isEmpty)
    }

    @Test("every flag is read, in Go syntax too")
    func flags() throws {
        let configuration = try self.configuration([
            "--backend", "memory", "--grpc-listen-address", "127.0.0.1", "-grpc-listen-port", "6000",
            "--tls-enabled=true", "--tls-cert-path", "/c.pem", "-tls-key-path=/k.pem",
            "--relay-ttl", "1m30s", "--agent-ttl=45s", "--heartbeat-interval", "500ms",
            "--redis-addr", "redis.internal", "--redis-port", "6380", "--redis-user", "registry", "--redis-db", "3",
            "--shutdown-timeout", "5s", "--max-relays", "10", "--max-agents", "20", "--cleanup-interval", "250ms",
            "--log-level", "warn", "--log-format", "json",
        ])
        #expect(configuration.listenAddress == "127.0.0.1")
        #expect(configuration.listenPort == 6000)
        #expect(configuration.tls == ServerConfiguration.TLS(certificatePath: "/c.pem", keyPath: "/k.pem"))
        #expect(configuration.ttl.relayTTL == .seconds(90))
        #expect(configuration.ttl.agentTTL == .seconds(45))
        #expect(configuration.heartbeatInterval == .milliseconds(500))
        #expect(configuration.redis == RedisSettings(host: "redis.internal", port: 6380, user: "registry", password: nil, database: 3))
        #expect(configuration.shutdownTimeout == .seconds(5))
        #expect(configuration.limits == CapacityLimits(maxRelays: 10, maxAgents: 20))
        #expect(configuration.cleanupInterval == .milliseconds(250))
        #expect(configuration.logLevel == .warning)
        #expect(configuration.logFormat == .json)
    }

    @Test("environment variables fill in, and flags win over them")
    func environment() throws {
        let environment = [
            "AERO_ARC_REGISTRY_RELAY_TTL": "10s",
            "AERO_ARC_REGISTRY_AGENT_TTL": "20s",
            "AERO_ARC_REGISTRY_GRPC_LISTEN_PORT": "7000",
            "AERO_ARC_REGISTRY_TLS_ENABLED": "false",
            "AERO_ARC_REGISTRY_REDIS_PASSWORD": "s3cret",
            "AERO_ARC_REGISTRY_LOG_LEVEL": "",  // empty: unset
        ]
        let configuration = try self.configuration(["--agent-ttl", "25s"], environment: environment)
        #expect(configuration.ttl.relayTTL == .seconds(10))
        #expect(configuration.ttl.agentTTL == .seconds(25))
        #expect(configuration.listenPort == 7000)
        #expect(configuration.tls == nil)
        #expect(configuration.redis.password == "s3cret")
        #expect(configuration.logLevel == .info)
        #expect(configuration.warnings.isEmpty)
    }

    @Test("bad values name the flag or variable they came from", arguments: [
        (["--relay-ttl", "5x"], [:], "invalid --relay-ttl '5x'"),
        (["--relay-ttl", "500ms"], [:], "from 1s to 24h0m0s"),
        (["--agent-ttl", "25h"], [:], "invalid --agent-ttl '25h'"),
        ([], ["AERO_ARC_REGISTRY_AGENT_TTL": "0s"], "invalid AERO_ARC_REGISTRY_AGENT_TTL '0s'"),
        (["--grpc-listen-port", "70000"], [:], "invalid --grpc-listen-port '70000': expected an integer from 0 to 65535"),
        (["--backend", "mysql"], [:], "expected memory, redis, etcd, consul"),
        (["--grpc-listen-address", "example.com"], [:], "expected an IPv4 or IPv6 address"),
        (["--tls-enabled"], [:], "--tls-enabled needs --tls-cert-path"),
        (["--tls-enabled", "--tls-cert-path", "/c"], [:], "--tls-enabled needs --tls-key-path"),
        ([], ["AERO_ARC_REGISTRY_TLS_ENABLED": "maybe"], "invalid AERO_ARC_REGISTRY_TLS_ENABLED 'maybe'"),
        (["--log-format", "xml"], [:], "expected text or json"),
        (["--max-agents", "0"], [:], "invalid --max-agents '0'"),
        (["--shutdown-timeout=-1s"], [:], "invalid --shutdown-timeout '-1s'"),
    ] as [([String], [String: String], String)])
    func invalid(_ arguments: [String], _ environment: [String: String], _ expected: String) {
        let message = self.error(arguments, environment: environment)
        #expect(message?.contains(expected) == true, "\(message ?? "no error")")
    }

    @Test("a password on the command line and a heartbeat interval at the TTL are warned about")
    func warnings() throws {
        let configuration = try self.configuration(["--redis-password", "x", "--heartbeat-interval", "30s"])
        #expect(configuration.warnings.count == 2)
        #expect(configuration.warnings.contains { $0.contains("AERO_ARC_REGISTRY_REDIS_PASSWORD") })
        #expect(configuration.warnings.contains { $0.contains("flap") })
    }

    @Test("Go flag syntax is rewritten for the parser")
    func goSyntax() {
        let normalized = GoFlagSyntax.normalize(
            ["-relay-ttl", "5s", "-h", "-1s", "--tls-enabled=false", "-tls-enabled=TRUE", "--x=1", "--", "-keep"],
            booleanFlags: ["tls-enabled"]
        )
        #expect(normalized == ["--relay-ttl", "5s", "-h", "-1s", "--no-tls-enabled", "--tls-enabled", "--x=1", "--", "-keep"])
    }

    @Test("environment variable names follow the flag names")
    func environmentNames() {
        #expect(SettingResolver.environmentName(of: "grpc-listen-port") == "AERO_ARC_REGISTRY_GRPC_LISTEN_PORT")
    }
}

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    @Test("one escaped object per line with metadata")
    func render() {
        let line = JSONLogHandler.render(
            time: UnixMilliseconds(1_767_225_600_123),
            level: .warning,
            label: "aero-arc-registry",
            message: "say \"hi\"\n\u{1}",
            metadata: ["relay_id": "r/1", "nested": ["a": ["1", "2"]], "message": "ignored"]
        )
        #expect(line == #"{"time":"2026-01-01T00:00:00.123Z","level":"warning","label":"aero-arc-registry","message":"say \"hi\"\n\u0001","nested":{"a":["1","2"]},"relay_id":"r/1"}"# + "\n")
    }
}
