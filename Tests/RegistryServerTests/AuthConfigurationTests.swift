import RegistryCore
@testable import RegistryServer
import Testing

@Suite("Authentication configuration")
struct AuthConfigurationTests {
    func configuration(_ arguments: [String], environment: [String: String] = [:]) throws -> ServerConfiguration {
        let options = try ServerOptions.parse(GoFlagSyntax.normalize(arguments, booleanFlags: ServerOptions.booleanFlags))
        return try ServerConfiguration(options: options, environment: environment)
    }

    func error(_ arguments: [String]) -> String? {
        do {
            _ = try self.configuration(arguments)
            return nil
        } catch let error as ConfigurationError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test("off by default, as the Go registry; warned about only when listening beyond this machine")
    func dropInDefault() throws {
        let open = try self.configuration([])
        #expect(open.auth == nil)
        #expect(open.exposureWarning?.contains("without authentication") == true)
        #expect(try self.configuration(["--grpc-listen-address", "127.0.0.1"]).exposureWarning == nil)
        #expect(try self.configuration(["--grpc-listen-address", "::1"]).exposureWarning == nil)
        #expect(try self.configuration(["--auth-file", "/etc/policy.json"]).exposureWarning == nil)
    }

    @Test("--auth-file, --tls-client-ca-path and --auth-protect-health are read, from the environment too")
    func flags() throws {
        let configured = try self.configuration(
            ["--tls-enabled", "--tls-cert-path", "c.pem", "--tls-key-path", "k.pem", "--tls-client-ca-path", "ca.pem", "--auth-protect-health=true"],
            environment: ["AERO_ARC_REGISTRY_AUTH_FILE": "/etc/policy.json"]
        )
        #expect(configured.tls?.clientCAPath == "ca.pem")
        #expect(configured.auth == ServerConfiguration.Auth(policyPath: "/etc/policy.json", protectHealth: true))
        #expect(configured.warnings.isEmpty)

        let certificatesOnly = try self.configuration(["--tls-enabled", "--tls-cert-path", "c.pem", "--tls-key-path", "k.pem", "--tls-client-ca-path", "ca.pem"])
        #expect(certificatesOnly.auth == ServerConfiguration.Auth(policyPath: nil, protectHealth: false))
        #expect(certificatesOnly.warnings.contains { $0.contains("without --auth-file") })
    }

    @Test("settings that would protect nothing stop the server with one line")
    func inconsistent() {
        #expect(error(["--tls-client-ca-path", "ca.pem"]) == "--tls-client-ca-path needs --tls-enabled: client certificates are asked for during the TLS handshake")
        #expect(error(["--auth-protect-health"]) == "--auth-protect-health needs --auth-file or --tls-client-ca-path: without them nothing is protected")
    }
}
