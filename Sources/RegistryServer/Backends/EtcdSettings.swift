public import ArgumentParser
public import RegistryBackendEtcd
import RegistryCore

/// The etcd backend's flags.
public struct EtcdOptions: ParsableArguments {
    @Option(name: .customLong("etcd-endpoints"), help: help("Comma-separated etcd client URLs or host:port pairs, tried in order with failover.", "127.0.0.1:2379", "etcd-endpoints"))
    public var etcdEndpoints: String?

    @Option(name: .customLong("etcd-username"), help: help("etcd user name, when etcd's authentication is enabled.", nil, "etcd-username"))
    public var etcdUsername: String?

    @Option(name: .customLong("etcd-password"), help: help("etcd password; prefer the environment variable, as other users can see command lines.", nil, "etcd-password"))
    public var etcdPassword: String?

    @Option(name: .customLong("etcd-ca-path"), help: help("PEM CA bundle to verify etcd's certificates; enables TLS.", nil, "etcd-ca-path"))
    public var etcdCAPath: String?

    @Option(name: .customLong("etcd-cert-path"), help: help("PEM client certificate for etcd; enables TLS (needs --etcd-key-path).", nil, "etcd-cert-path"))
    public var etcdCertPath: String?

    @Option(name: .customLong("etcd-key-path"), help: help("PEM private key of the etcd client certificate.", nil, "etcd-key-path"))
    public var etcdKeyPath: String?

    @Option(name: .customLong("etcd-timeout"), help: help("Longest an operation may take, retries and failover included, before it fails UNAVAILABLE.", "2s", "etcd-timeout"))
    public var etcdTimeout: String?

    @Option(name: .customLong("etcd-key-prefix"), help: help("Prefix of every key the registry writes.", EtcdConfiguration.defaultKeyPrefix, "etcd-key-prefix"))
    public var etcdKeyPrefix: String?

    public init() {}
}

/// Connection settings for the etcd backend.
public struct EtcdSettings: Sendable, Equatable {
    public var endpoints: [EtcdEndpoint] = [EtcdEndpoint(host: "127.0.0.1", port: 2379)]
    public var username: String?
    public var password: String?
    /// Set when any TLS setting (an `https://` endpoint or a certificate path) was given.
    public var tls: EtcdConfiguration.TLS?
    public var timeout: Duration = EtcdConfiguration.defaultTimeout
    public var keyPrefix: String = EtcdConfiguration.defaultKeyPrefix

    public init() {}

    init(options: EtcdOptions, settings: SettingResolver, warnings: inout [String]) throws(ConfigurationError) {
        var plaintextEndpoints: String?
        if let (raw, origin) = settings.raw("etcd-endpoints", options.etcdEndpoints) {
            var endpoints: [EtcdEndpoint] = []
            var schemes: Set<Bool> = []
            for part in raw.split(separator: ",", omittingEmptySubsequences: false) {
                let text = String(part.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
                do {
                    let (endpoint, tls) = try EtcdEndpoint.parse(text)
                    endpoints.append(endpoint)
                    if let tls { schemes.insert(tls) }
                } catch {
                    throw ConfigurationError("invalid \(origin) '\(raw)': \(error.message)")
                }
            }
            if schemes.count > 1 {
                throw ConfigurationError("invalid \(origin) '\(raw)': mixes http:// and https:// endpoints")
            }
            self.endpoints = endpoints
            if schemes == [true] {
                self.tls = EtcdConfiguration.TLS()
            }
            if schemes == [false] {
                plaintextEndpoints = "\(origin) '\(raw)'"
            }
        }

        self.username = settings.raw("etcd-username", options.etcdUsername)?.value
        self.password = settings.raw("etcd-password", options.etcdPassword)?.value
        if options.etcdPassword != nil {
            warnings.append(
                "--etcd-password on the command line is visible to other users of this machine; set \(SettingResolver.environmentName(of: "etcd-password")) instead"
            )
        }
        if self.username != nil, self.password == nil {
            throw ConfigurationError("--etcd-username needs a password: set \(SettingResolver.environmentName(of: "etcd-password")) or --etcd-password")
        }
        if self.username == nil, self.password != nil {
            throw ConfigurationError("an etcd password was given without --etcd-username")
        }

        let caPath = settings.raw("etcd-ca-path", options.etcdCAPath)?.value
        let certificate = settings.raw("etcd-cert-path", options.etcdCertPath)
        let key = settings.raw("etcd-key-path", options.etcdKeyPath)
        switch (certificate, key) {
        case (.some, nil):
            throw ConfigurationError("\(certificate?.origin ?? "--etcd-cert-path") needs --etcd-key-path (the certificate's PEM private key)")
        case (nil, .some):
            throw ConfigurationError("\(key?.origin ?? "--etcd-key-path") needs --etcd-cert-path (a PEM client certificate)")
        default:
            break
        }
        if caPath != nil || certificate != nil {
            if let plaintextEndpoints {
                throw ConfigurationError("invalid \(plaintextEndpoints): http:// endpoints cannot use the etcd TLS settings; use https://")
            }
            self.tls = EtcdConfiguration.TLS(caPath: caPath, certificatePath: certificate?.value, keyPath: key?.value)
        }

        self.timeout = try settings.duration("etcd-timeout", options.etcdTimeout, default: EtcdConfiguration.defaultTimeout, range: .milliseconds(50) ... .seconds(300))
        self.keyPrefix = settings.string("etcd-key-prefix", options.etcdKeyPrefix, default: EtcdConfiguration.defaultKeyPrefix)
        if self.keyPrefix.isEmpty {
            throw ConfigurationError("--etcd-key-prefix must not be empty")
        }
    }

    /// The backend's configuration.
    public var configuration: EtcdConfiguration {
        EtcdConfiguration(
            endpoints: self.endpoints,
            credentials: self.username.flatMap { username in
                self.password.map { EtcdConfiguration.Credentials(username: username, password: $0) }
            },
            tls: self.tls,
            timeout: self.timeout,
            keyPrefix: self.keyPrefix
        )
    }
}
