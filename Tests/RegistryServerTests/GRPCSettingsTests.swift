@testable import RegistryServer
import Testing

@Suite("gRPC connection settings")
struct GRPCSettingsTests {
    func settings(_ arguments: [String], environment: [String: String] = [:]) throws -> GRPCSettings {
        let options = try ServerOptions.parse(GoFlagSyntax.normalize(arguments, booleanFlags: ServerOptions.booleanFlags))
        return try ServerConfiguration(options: options, environment: environment).grpc
    }

    @Test("defaults: 1,000 streams per connection, 4 MiB requests, gRPC's keepalive, clients may ping every 10 s")
    func defaults() throws {
        let settings = try self.settings([])
        #expect(settings == GRPCSettings())
        #expect(settings.maxConcurrentStreams == 1000)
        #expect(settings.maxRequestBytes == 4 * 1024 * 1024)
        #expect(settings.keepaliveTime == .seconds(7200))
        #expect(settings.keepaliveTimeout == .seconds(20))
        #expect(settings.keepaliveMinTime == .seconds(10))
        #expect(settings.keepalivePermitWithoutCalls)
        #expect(settings.maxConnectionIdle == nil && settings.maxConnectionAge == nil && settings.maxConnectionAgeGrace == nil)
        let config = settings.transportConfig
        #expect(config.http2.maxConcurrentStreams == HTTP2StreamLimit.hardLimit)
        #expect(config.rpc.maxRequestPayloadSize == 4 * 1024 * 1024)
        #expect(config.connection.maxAge == nil)
    }

    @Test("every flag is read, Go syntax and environment too; 0 turns the connection limits off")
    func flags() throws {
        let settings = try self.settings(
            [
                "-grpc-max-concurrent-streams", "50", "--grpc-max-request-bytes", "65536",
                "--grpc-keepalive-time", "1m", "--grpc-keepalive-timeout", "5s", "--grpc-keepalive-min-time", "30s",
                "-grpc-keepalive-permit-without-calls=false", "--grpc-max-connection-idle", "10m",
                "--grpc-max-connection-age", "30m",
            ],
            environment: ["AERO_ARC_REGISTRY_GRPC_MAX_CONNECTION_AGE_GRACE": "1m", "AERO_ARC_REGISTRY_GRPC_MAX_CONCURRENT_STREAMS": "7"]
        )
        #expect(settings.maxConcurrentStreams == 50)
        #expect(settings.maxRequestBytes == 65536)
        #expect(settings.keepaliveTime == .seconds(60))
        #expect(settings.keepaliveTimeout == .seconds(5))
        #expect(settings.keepaliveMinTime == .seconds(30))
        #expect(!settings.keepalivePermitWithoutCalls)
        #expect(settings.maxConnectionIdle == .seconds(600))
        #expect(settings.maxConnectionAge == .seconds(1800))
        #expect(settings.maxConnectionAgeGrace == .seconds(60))
        let config = settings.transportConfig
        #expect(config.connection.maxIdleTime == .seconds(600))
        #expect(config.connection.keepalive.clientBehavior.allowWithoutCalls == false)
        #expect(try self.settings(["--grpc-max-connection-age", "0"]).maxConnectionAge == nil)
    }

    @Test("bad values name the flag", arguments: [
        (["--grpc-max-concurrent-streams", "0"], "invalid --grpc-max-concurrent-streams '0': expected an integer from 1 to 1000000"),
        (["--grpc-max-request-bytes", "12"], "invalid --grpc-max-request-bytes '12': expected an integer from 1024 to 67108864"),
        (["--grpc-keepalive-time", "soon"], "invalid --grpc-keepalive-time 'soon': expected a duration such as 500ms, 30s or 1m30s, from 1s to 24h0m0s"),
    ])
    func invalid(_ arguments: [String], _ expected: String) {
        #expect(throws: ConfigurationError.self) { try self.settings(arguments) }
        do {
            _ = try self.settings(arguments)
        } catch let error as ConfigurationError {
            #expect(error.message == expected)
        } catch {
            Issue.record("\(error)")
        }
    }
}
