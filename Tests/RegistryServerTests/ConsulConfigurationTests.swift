import ArgumentParser
import Logging
import RegistryCore
@testable import RegistryServer
import Testing

@Suite("Consul backend configuration")
struct ConsulConfigurationTests {
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

    @Test("defaults: a local agent, no token, 2s timeout, the aero-arc-registry/v1/ prefix")
    func defaults() throws {
        let consul = try self.configuration(["--backend", "consul"]).consul.configuration
        #expect(consul.address.description == "http://127.0.0.1:8500")
        #expect(consul.token == nil)
        #expect(consul.datacenter == nil)
        #expect(consul.caPath == nil)
        #expect(consul.timeout == .seconds(2))
        #expect(consul.keyPrefix == "aero-arc-registry/v1/")
    }

    @Test("every flag is read, in Go syntax too, and the token on the command line is warned about")
    func flags() throws {
        let configuration = try self.configuration([
            "--backend", "consul", "--consul-address", "https://consul.internal:8501", "-consul-token", "t0ken",
            "--consul-datacenter", "eu-west", "--consul-ca-path=/etc/consul/ca.pem", "--consul-timeout", "750ms",
            "--consul-key-prefix", "fleet/registry",
        ])
        let consul = configuration.consul.configuration
        #expect(configuration.backend == .consul)
        #expect(consul.address.description == "https://consul.internal:8501")
        #expect(consul.token == "t0ken")
        #expect(consul.datacenter == "eu-west")
        #expect(consul.caPath == "/etc/consul/ca.pem")
        #expect(consul.timeout == .milliseconds(750))
        #expect(consul.keyPrefix == "fleet/registry/")
        #expect(configuration.warnings.count == 1)
        #expect(configuration.warnings.first?.contains("AERO_ARC_REGISTRY_CONSUL_TOKEN") == true)
    }

    @Test("the token comes from the flag, then AERO_ARC_REGISTRY_CONSUL_TOKEN, then CONSUL_HTTP_TOKEN")
    func tokenPrecedence() throws {
        let both = ["AERO_ARC_REGISTRY_CONSUL_TOKEN": "ours", "CONSUL_HTTP_TOKEN": "consuls"]
        #expect(try self.configuration(["--consul-token", "flag"], environment: both).consul.configuration.token == "flag")
        let fromOurs = try self.configuration([], environment: both)
        #expect(fromOurs.consul.configuration.token == "ours")
        #expect(fromOurs.warnings.isEmpty)
        #expect(try self.configuration([], environment: ["CONSUL_HTTP_TOKEN": "consuls"]).consul.configuration.token == "consuls")
        #expect(try self.configuration([], environment: ["AERO_ARC_REGISTRY_CONSUL_TOKEN": "", "CONSUL_HTTP_TOKEN": "consuls"]).consul.configuration.token == "consuls")
        #expect(try self.configuration([], environment: ["CONSUL_HTTP_TOKEN": ""]).consul.configuration.token == nil)
    }

    @Test("environment variables fill in the other settings")
    func environment() throws {
        let consul = try self.configuration([], environment: [
            "AERO_ARC_REGISTRY_CONSUL_ADDRESS": "10.1.2.3:8600",
            "AERO_ARC_REGISTRY_CONSUL_DATACENTER": "dc2",
            "AERO_ARC_REGISTRY_CONSUL_TIMEOUT": "5s",
            "AERO_ARC_REGISTRY_CONSUL_KEY_PREFIX": "x/",
        ]).consul.configuration
        #expect(consul.address.description == "http://10.1.2.3:8600")
        #expect(consul.datacenter == "dc2")
        #expect(consul.timeout == .seconds(5))
        #expect(consul.keyPrefix == "x/")
    }

    @Test("bad values name the flag or variable they came from", arguments: [
        (["--consul-address", "ftp://x"], [:], "invalid --consul-address 'ftp://x': Consul address 'ftp://x' must use http or https"),
        ([], ["AERO_ARC_REGISTRY_CONSUL_ADDRESS": "host:99999"], "invalid AERO_ARC_REGISTRY_CONSUL_ADDRESS 'host:99999'"),
        (["--consul-timeout", "0s"], [:], "invalid --consul-timeout '0s'"),
        (["--consul-timeout", "soon"], [:], "invalid --consul-timeout 'soon'"),
        (["--consul-key-prefix", "/abs"], [:], "invalid --consul-key-prefix '/abs': the Consul key prefix '/abs' must not start with '/'"),
        ([], ["AERO_ARC_REGISTRY_CONSUL_KEY_PREFIX": "/"], "invalid AERO_ARC_REGISTRY_CONSUL_KEY_PREFIX '/'"),
    ] as [([String], [String: String], String)])
    func invalid(_ arguments: [String], _ environment: [String: String], _ expected: String) {
        let message = self.error(arguments, environment: environment)
        #expect(message?.contains(expected) == true, "\(message ?? "no error")")
    }

    @Test("a CA path with a plain-http address is warned about")
    func caPathWithoutTLS() throws {
        let configuration = try self.configuration(["--consul-ca-path", "/ca.pem"])
        #expect(configuration.warnings.contains { $0.contains("--consul-ca-path is ignored") })
    }

    @Test("--backend consul builds the Consul backend, which expires entries by sweeping")
    func factory() async throws {
        let configuration = try self.configuration(["--backend", "consul", "--consul-key-prefix", "fleet/"])
        let backend = try BackendFactory.make(configuration, logger: Logger(label: "test"))
        #expect("\(backend)".contains("ConsulBackend(http://127.0.0.1:8500, prefix: fleet/)"))
        #expect(backend.expiry == .sweep)
        #expect(backend.ttl == configuration.ttl)
    }

    @Test("an unreadable CA file stops the server with a clear message")
    func unreadableCA() throws {
        let configuration = try self.configuration([
            "--backend", "consul", "--consul-address", "https://consul:8501", "--consul-ca-path", "/nonexistent/ca.pem",
        ])
        #expect(throws: ConfigurationError.self) { try BackendFactory.make(configuration, logger: Logger(label: "test")) }
        do {
            _ = try BackendFactory.make(configuration, logger: Logger(label: "test"))
        } catch {
            #expect(error.message.contains("/nonexistent/ca.pem"))
        }
    }
}
