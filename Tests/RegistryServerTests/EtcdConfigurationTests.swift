import ArgumentParser
import Logging
import RegistryBackendEtcd
import RegistryCore
@testable import RegistryServer
import Testing

@Suite("etcd configuration")
struct EtcdConfigurationTests {
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

    @Test("defaults: local etcd, no credentials, plaintext, 2s timeout, the documented prefix")
    func defaults() throws {
        let etcd = try self.configuration(["--backend", "etcd"]).etcd.configuration
        #expect(etcd.endpoints == [EtcdEndpoint(host: "127.0.0.1", port: 2379)])
        #expect(etcd.credentials == nil)
        #expect(etcd.tls == nil)
        #expect(etcd.timeout == .seconds(2))
        #expect(etcd.keyPrefix == "/aero-arc-registry/v1/")
    }

    @Test("every etcd flag is read, in Go syntax too")
    func flags() throws {
        let configuration = try self.configuration([
            "--backend", "etcd",
            "-etcd-endpoints", "https://etcd-0:2379, https://etcd-1:2379,https://[fd00::2]:2379",
            "--etcd-username", "registry", "--etcd-password=pw",
            "--etcd-ca-path", "/ca.pem", "-etcd-cert-path=/c.pem", "--etcd-key-path", "/k.pem",
            "--etcd-timeout", "750ms", "--etcd-key-prefix", "/fleet-a/",
        ])
        let etcd = configuration.etcd.configuration
        #expect(etcd.endpoints == [
            EtcdEndpoint(host: "etcd-0", port: 2379), EtcdEndpoint(host: "etcd-1", port: 2379), EtcdEndpoint(host: "fd00::2", port: 2379),
        ])
        #expect(etcd.credentials == EtcdConfiguration.Credentials(username: "registry", password: "pw"))
        #expect(etcd.tls == EtcdConfiguration.TLS(caPath: "/ca.pem", certificatePath: "/c.pem", keyPath: "/k.pem"))
        #expect(etcd.timeout == .milliseconds(750))
        #expect(etcd.keyPrefix == "/fleet-a/")
        #expect(configuration.warnings.contains { $0.contains("--etcd-password") && $0.contains("AERO_ARC_REGISTRY_ETCD_PASSWORD") })
    }

    @Test("the password comes from the environment without a warning; https:// alone turns TLS on")
    func environment() throws {
        let configuration = try self.configuration([], environment: [
            "AERO_ARC_REGISTRY_BACKEND": "etcd",
            "AERO_ARC_REGISTRY_ETCD_ENDPOINTS": "https://etcd.internal",
            "AERO_ARC_REGISTRY_ETCD_USERNAME": "registry",
            "AERO_ARC_REGISTRY_ETCD_PASSWORD": "from-env",
        ])
        #expect(configuration.etcd.configuration.credentials?.password == "from-env")
        #expect(configuration.etcd.configuration.tls == EtcdConfiguration.TLS())
        #expect(configuration.etcd.configuration.endpoints == [EtcdEndpoint(host: "etcd.internal", port: 2379)])
        #expect(configuration.warnings.isEmpty)
    }

    @Test("bad etcd settings are refused, naming the flag or variable")
    func errors() {
        #expect(self.error(["--etcd-endpoints", "etcd:0"])?.contains("--etcd-endpoints") == true)
        #expect(self.error(["--etcd-endpoints", "a:2379,,b:2379"])?.contains("no valid host") == true)
        #expect(self.error(["--etcd-endpoints", "http://a:2379,https://b:2379"])?.contains("mixes") == true)
        #expect(self.error(["--etcd-endpoints", "http://a:2379", "--etcd-ca-path", "/ca.pem"])?.contains("https://") == true)
        #expect(self.error([], environment: ["AERO_ARC_REGISTRY_ETCD_ENDPOINTS": "unix:///x"])?.contains("AERO_ARC_REGISTRY_ETCD_ENDPOINTS") == true)
        #expect(self.error(["--etcd-username", "u"])?.contains("AERO_ARC_REGISTRY_ETCD_PASSWORD") == true)
        #expect(self.error([], environment: ["AERO_ARC_REGISTRY_ETCD_PASSWORD": "p"])?.contains("--etcd-username") == true)
        #expect(self.error(["--etcd-cert-path", "/c.pem"])?.contains("--etcd-key-path") == true)
        #expect(self.error(["--etcd-key-path", "/k.pem"])?.contains("--etcd-cert-path") == true)
        #expect(self.error(["--etcd-timeout", "0s"])?.contains("--etcd-timeout") == true)
        #expect(self.error(["--etcd-key-prefix", ""])?.contains("--etcd-key-prefix") == true)
    }

    @Test("--backend etcd builds the etcd backend")
    func backend() throws {
        let configuration = try self.configuration(["--backend", "etcd", "--etcd-endpoints", "127.0.0.1:1"])
        let backend = try BackendFactory.make(configuration, logger: Logger(label: "test"))
        #expect("\(backend)" == "EtcdBackend(127.0.0.1:1)")
        #expect(backend.expiry == .native)
        #expect(!backend.health.status.isServing)
    }
}
