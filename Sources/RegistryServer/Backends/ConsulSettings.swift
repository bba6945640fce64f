public import ArgumentParser
import RegistryCore
public import RegistryBackendConsul

/// The consul backend's flags.
public struct ConsulOptions: ParsableArguments {
    @Option(name: .customLong("consul-address"), help: help("Consul HTTP API address: http(s)://host:port.", ConsulConfiguration.defaultAddress, "consul-address"))
    public var consulAddress: String?

    @Option(
        name: .customLong("consul-token"),
        help: help("Consul ACL token; prefer the environment variable (or Consul's CONSUL_HTTP_TOKEN), as other users can see command lines.", nil, "consul-token")
    )
    public var consulToken: String?

    @Option(name: .customLong("consul-datacenter"), help: help("Consul datacenter to use (the addressed agent's by default).", nil, "consul-datacenter"))
    public var consulDatacenter: String?

    @Option(name: .customLong("consul-ca-path"), help: help("PEM file of CA certificates to trust for an https Consul address.", nil, "consul-ca-path"))
    public var consulCAPath: String?

    @Option(name: .customLong("consul-timeout"), help: help("How long one request to Consul may take.", "2s", "consul-timeout"))
    public var consulTimeout: String?

    @Option(name: .customLong("consul-key-prefix"), help: help("Where in Consul's KV store the registry keeps its keys.", ConsulConfiguration.defaultKeyPrefix, "consul-key-prefix"))
    public var consulKeyPrefix: String?

    public init() {}
}

/// Connection settings for the consul backend, checked.
public struct ConsulSettings: Sendable, Equatable {
    /// Consul's own variable for the ACL token, read after ours.
    public static let consulTokenVariable = "CONSUL_HTTP_TOKEN"

    public var configuration: ConsulConfiguration

    /// The defaults: a local Consul agent, no token.
    public init() {
        self.configuration = .default
    }

    public init(configuration: ConsulConfiguration) {
        self.configuration = configuration
    }

    init(options: ConsulOptions, settings: SettingResolver, warnings: inout [String]) throws(ConfigurationError) {
        let addressText = settings.string("consul-address", options.consulAddress, default: ConsulConfiguration.defaultAddress)
        let address: ConsulAddress
        do {
            address = try ConsulAddress(parsing: addressText)
        } catch {
            let origin = settings.raw("consul-address", options.consulAddress)?.origin ?? "--consul-address"
            throw ConfigurationError("invalid \(origin) '\(addressText)': \(error.message)")
        }
        var token = settings.raw("consul-token", options.consulToken)?.value
        if token == nil, let fromConsul = settings.environment[Self.consulTokenVariable], !fromConsul.isEmpty {
            token = fromConsul
        }
        if options.consulToken != nil {
            warnings.append(
                "--consul-token on the command line is visible to other users of this machine; set \(SettingResolver.environmentName(of: "consul-token")) or \(Self.consulTokenVariable) instead"
            )
        }
        let datacenter = settings.raw("consul-datacenter", options.consulDatacenter)?.value
        let caPath = settings.raw("consul-ca-path", options.consulCAPath)?.value
        if caPath != nil, address.scheme != .https {
            warnings.append("--consul-ca-path is ignored: the Consul address \(address) does not use https")
        }
        let timeout = try settings.duration(
            "consul-timeout", options.consulTimeout, default: ConsulConfiguration.defaultTimeout, range: .milliseconds(10) ... .seconds(600)
        )
        let prefix = settings.string("consul-key-prefix", options.consulKeyPrefix, default: ConsulConfiguration.defaultKeyPrefix)
        do {
            self.configuration = try ConsulConfiguration(
                address: address, token: token, datacenter: datacenter, caPath: caPath, timeout: timeout, keyPrefix: prefix
            )
        } catch {
            let origin = settings.raw("consul-key-prefix", options.consulKeyPrefix)?.origin ?? "--consul-key-prefix"
            throw ConfigurationError("invalid \(origin) '\(prefix)': \(error.message)")
        }
    }
}
