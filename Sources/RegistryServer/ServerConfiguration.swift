public import Logging
public import RegistryCore

/// Everything the server needs to start, checked.
public struct ServerConfiguration: Sendable {
    /// The storage backends the registry knows.
    public enum BackendKind: String, Sendable, CaseIterable {
        case memory, redis, etcd, consul
    }

    /// How log lines are written.
    public enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

    /// PEM files for TLS.
    public struct TLS: Sendable, Equatable {
        public var certificatePath: String
        public var keyPath: String
        /// CA certificates client certificates must be signed by; nil: no client
        /// certificates asked for.
        public var clientCAPath: String?

        public init(certificatePath: String, keyPath: String, clientCAPath: String? = nil) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
            self.clientCAPath = clientCAPath
        }
    }

    /// Who may call what (docs/security.md).
    public struct Auth: Sendable, Equatable {
        /// The policy file; nil with mutual TLS alone (every client the CA vouches for
        /// may do everything).
        public var policyPath: String?
        /// Health and reflection need a credential too.
        public var protectHealth: Bool

        public init(policyPath: String?, protectHealth: Bool = false) {
            self.policyPath = policyPath
            self.protectHealth = protectHealth
        }
    }

    public var backend: BackendKind = .memory
    public var listenAddress: String = "0.0.0.0"
    public var listenPort: Int = 50051
    public var tls: TLS?
    /// Authentication and authorization; nil: off, anyone who reaches the port may call
    /// anything (the Go registry's behaviour).
    public var auth: Auth?
    public var ttl: TTLPolicy = .default
    public var heartbeatInterval: Duration = .seconds(1)
    /// The most an outage extends deadlines (docs/degraded-operation.md); zero is off.
    public var outageGraceMax: Duration = TTLPolicy.defaultTTL
    /// Placement reads answered from this replica's last confirmed state during an outage.
    public var staleReads = true
    /// Where Prometheus metrics are served; nil: not at all (the default: gRPC only).
    public var metrics: MetricsListener?

    /// The address and port of the metrics endpoint.
    public struct MetricsListener: Sendable, Equatable {
        public var address: String
        public var port: Int

        public init(address: String = "0.0.0.0", port: Int = 9464) {
            self.address = address
            self.port = port
        }
    }
    public var redis = RedisSettings()
    public var etcd = EtcdSettings()
    public var consul = ConsulSettings()
    public var shutdownTimeout: Duration = .seconds(30)
    /// HTTP/2 and keepalive limits of the gRPC server.
    public var grpc = GRPCSettings()
    public var limits = CapacityLimits()
    public var cleanupInterval: Duration = .seconds(1)
    public var logLevel: Logger.Level = .info
    public var logFormat: LogFormat = .text
    /// Things worth telling the operator at startup that do not stop it.
    public var warnings: [String] = []
    /// Set when the server listens beyond this machine with no authentication at all: the
    /// drop-in default, warned about at startup apart from ``warnings``.
    public var exposureWarning: String?

    /// The defaults, as the Go registry has them.
    public init() {}

    /// Resolves every setting from its flag, then its environment variable, then its default.
    /// - Throws: the first invalid value, naming the flag or variable it came from.
    public init(options: ServerOptions, environment: [String: String]) throws(ConfigurationError) {
        let settings = SettingResolver(environment: environment)

        self.backend = try settings.value(
            "backend", options.backend, default: .memory,
            expected: BackendKind.allCases.map(\.rawValue).joined(separator: ", "),
            parse: { BackendKind(rawValue: $0.lowercased()) }
        )
        self.listenAddress = settings.string("grpc-listen-address", options.grpcListenAddress, default: "0.0.0.0")
        if ListenAddress(self.listenAddress) == nil {
            let origin = settings.raw("grpc-listen-address", options.grpcListenAddress)?.origin ?? "--grpc-listen-address"
            throw ConfigurationError("invalid \(origin) '\(self.listenAddress)': expected an IPv4 or IPv6 address, or localhost")
        }
        self.listenPort = try settings.integer("grpc-listen-port", options.grpcListenPort, default: 50051, range: 0...65535)

        if try settings.boolean("tls-enabled", options.tlsEnabled, default: false) {
            guard let cert = settings.raw("tls-cert-path", options.tlsCertPath)?.value else {
                throw ConfigurationError("--tls-enabled needs --tls-cert-path (a PEM certificate chain)")
            }
            guard let key = settings.raw("tls-key-path", options.tlsKeyPath)?.value else {
                throw ConfigurationError("--tls-enabled needs --tls-key-path (a PEM private key)")
            }
            self.tls = TLS(certificatePath: cert, keyPath: key, clientCAPath: settings.raw("tls-client-ca-path", options.tlsClientCAPath)?.value)
        } else if let clientCA = settings.raw("tls-client-ca-path", options.tlsClientCAPath) {
            throw ConfigurationError("\(clientCA.origin) needs --tls-enabled: client certificates are asked for during the TLS handshake")
        }
        let protectHealth = try settings.boolean("auth-protect-health", options.authProtectHealth, default: false)
        let policyPath = settings.raw("auth-file", options.authFile)?.value
        if policyPath != nil || self.tls?.clientCAPath != nil {
            self.auth = Auth(policyPath: policyPath, protectHealth: protectHealth)
            if policyPath == nil {
                self.warnings.append(
                    "mutual TLS without --auth-file: every client with a certificate from the client CA may call everything, admin operations included"
                )
            }
        } else {
            if protectHealth {
                throw ConfigurationError("--auth-protect-health needs --auth-file or --tls-client-ca-path: without them nothing is protected")
            }
            if let address = ListenAddress(self.listenAddress), !address.isLoopback {
                self.exposureWarning = (
                    "listening on \(self.listenAddress) without authentication: anyone who can reach port \(self.listenPort) can register relays and move agents (see --auth-file and docs/security.md)"
                )
            }
        }

        let relayTTL = try settings.duration("relay-ttl", options.relayTTL, default: TTLPolicy.defaultTTL, range: TTLPolicy.acceptedRange)
        let agentTTL = try settings.duration("agent-ttl", options.agentTTL, default: TTLPolicy.defaultTTL, range: TTLPolicy.acceptedRange)
        do {
            self.ttl = try TTLPolicy(relayTTL: relayTTL, agentTTL: agentTTL)
        } catch {
            throw ConfigurationError(error.message)
        }
        self.heartbeatInterval = try settings.duration(
            "heartbeat-interval", options.heartbeatInterval, default: .seconds(1), range: .milliseconds(1) ... .seconds(24 * 3600)
        )
        if self.heartbeatInterval >= relayTTL {
            self.warnings.append(
                "heartbeat interval \(self.heartbeatInterval.goDescription) is not shorter than the relay TTL \(relayTTL.goDescription): relays heartbeating at that interval will flap"
            )
        }

        self.outageGraceMax = try settings.duration(
            "outage-grace-max", options.outageGraceMax, default: relayTTL, range: .zero ... .seconds(24 * 3600)
        )

        self.staleReads = try settings.boolean("stale-reads", options.staleReads, default: true)
        if settings.raw("metrics-listen-address", options.metricsListenAddress) != nil
            || settings.raw("metrics-port", options.metricsPort) != nil
        {
            let address = try settings.value(
                "metrics-listen-address", options.metricsListenAddress, default: "0.0.0.0", expected: "an IPv4 or IPv6 address"
            ) { ListenAddress($0) != nil ? $0 : nil }
            let port = try settings.integer("metrics-port", options.metricsPort, default: 9464, range: 0...65_535)
            self.metrics = MetricsListener(address: address, port: port)
        }

        self.grpc = try GRPCSettings(options: options.grpc, settings: settings)
        self.redis = try RedisSettings(options: options.redis, settings: settings, warnings: &self.warnings)
        self.etcd = try EtcdSettings(options: options.etcd, settings: settings, warnings: &self.warnings)
        self.consul = try ConsulSettings(options: options.consul, settings: settings, warnings: &self.warnings)

        self.shutdownTimeout = try settings.duration("shutdown-timeout", options.shutdownTimeout, default: .seconds(30), range: .zero ... .seconds(3600))
        self.limits = CapacityLimits(
            maxRelays: try settings.integer("max-relays", options.maxRelays, default: CapacityLimits.defaultMaxRelays, range: 1...100_000_000),
            maxAgents: try settings.integer("max-agents", options.maxAgents, default: CapacityLimits.defaultMaxAgents, range: 1...100_000_000)
        )
        self.cleanupInterval = try settings.duration(
            "cleanup-interval", options.cleanupInterval, default: .seconds(1), range: .milliseconds(10) ... .seconds(3600)
        )
        self.logLevel = try settings.value(
            "log-level", options.logLevel, default: .info,
            expected: "trace, debug, info, notice, warning, error or critical",
            parse: { raw in raw.lowercased() == "warn" ? .warning : Logger.Level(rawValue: raw.lowercased()) }
        )
        self.logFormat = try settings.value(
            "log-format", options.logFormat, default: .text, expected: "text or json",
            parse: { LogFormat(rawValue: $0.lowercased()) }
        )
    }
}
