import ArgumentParser
import Logging
import RegistryCore
@testable import RegistryServer
import Testing

@Suite("Redis configuration")
struct RedisConfigurationTests {
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

    @Test("defaults: localhost:6379, the default user, no password, db 0, 4 connections, 2s, no prefix")
    func defaults() throws {
        let redis = try self.configuration([]).redis
        #expect(redis == RedisSettings(host: "localhost", port: 6379, user: "default", password: nil, database: 0, poolSize: 4, timeout: .seconds(2), keyPrefix: ""))
    }

    @Test("every redis flag is read, in Go syntax too")
    func flags() throws {
        let redis = try self.configuration([
            "-redis-addr", "redis.internal", "--redis-port=6380", "--redis-user", "registry", "--redis-db", "2",
            "--redis-pool-size", "16", "-redis-timeout", "750ms", "--redis-key-prefix", "staging:",
        ]).redis
        #expect(redis == RedisSettings(host: "redis.internal", port: 6380, user: "registry", password: nil, database: 2, poolSize: 16, timeout: .milliseconds(750), keyPrefix: "staging:"))
    }

    @Test("environment variables fill in, the password best of all, with no warning")
    func environment() throws {
        let configuration = try self.configuration([], environment: [
            "AERO_ARC_REGISTRY_REDIS_PASSWORD": "s3cret",
            "AERO_ARC_REGISTRY_REDIS_POOL_SIZE": "8",
            "AERO_ARC_REGISTRY_REDIS_TIMEOUT": "5s",
            "AERO_ARC_REGISTRY_REDIS_KEY_PREFIX": "team-a:",
        ])
        #expect(configuration.redis.password == "s3cret")
        #expect(configuration.redis.poolSize == 8)
        #expect(configuration.redis.timeout == .seconds(5))
        #expect(configuration.redis.keyPrefix == "team-a:")
        #expect(configuration.warnings.isEmpty)
    }

    @Test("a password on the command line works but is warned about")
    func passwordFlag() throws {
        let configuration = try self.configuration(["--redis-password", "s3cret"])
        #expect(configuration.redis.password == "s3cret")
        #expect(configuration.warnings == [
            "--redis-password on the command line is visible to other users of this machine; set AERO_ARC_REGISTRY_REDIS_PASSWORD instead"
        ])
    }

    @Test("a user without a password is warned about: it would not be used")
    func userWithoutPassword() throws {
        let warnings = try self.configuration(["--redis-user", "registry"]).warnings
        #expect(warnings == ["--redis-user registry has no effect without a password (--redis-password or AERO_ARC_REGISTRY_REDIS_PASSWORD)"])
        let configured = try self.configuration(["--redis-user", "registry"], environment: ["AERO_ARC_REGISTRY_REDIS_PASSWORD": "pw"])
        #expect(configured.warnings.isEmpty)
    }

    @Test("bad values name the flag or variable they came from", arguments: [
        (["--redis-pool-size", "0"], [:], "invalid --redis-pool-size '0': expected an integer from 1 to 256"),
        ([], ["AERO_ARC_REGISTRY_REDIS_POOL_SIZE": "many"], "invalid AERO_ARC_REGISTRY_REDIS_POOL_SIZE 'many'"),
        (["--redis-timeout", "2"], [:], "invalid --redis-timeout '2'"),
        (["--redis-timeout", "5ms"], [:], "from 10ms to 1m0s"),
        (["--redis-key-prefix", "a{b}:"], [:], "invalid --redis-key-prefix 'a{b}:'"),
        ([], ["AERO_ARC_REGISTRY_REDIS_KEY_PREFIX": "has space"], "invalid AERO_ARC_REGISTRY_REDIS_KEY_PREFIX 'has space'"),
        (["--redis-port", "0"], [:], "invalid --redis-port '0'"),
        (["--redis-db=-1"], [:], "invalid --redis-db '-1'"),
    ] as [([String], [String: String], String)])
    func invalid(_ arguments: [String], _ environment: [String: String], _ expected: String) {
        let message = self.error(arguments, environment: environment)
        #expect(message?.contains(expected) == true, "\(message ?? "no error")")
    }

    @Test("--backend redis builds the Redis backend from these settings, without connecting")
    func factory() throws {
        let configuration = try self.configuration([
            "--backend", "redis", "--redis-addr", "127.0.0.1", "--redis-port", "1", "--redis-key-prefix", "p:", "--max-relays", "5",
        ])
        let backend = try BackendFactory.make(configuration, logger: Logger(label: "test"))
        #expect("\(backend)" == "RedisBackend(redis at 127.0.0.1:1, prefix: \"p:\")")
        #expect(backend.expiry == .native)
        #expect(backend.ttl == configuration.ttl)
        #expect(backend.health.status == .notServing(reason: "not connected to redis at 127.0.0.1:1 yet"))
    }
}
