public import ArgumentParser

/// The server's command-line flags; each backend's own flags are in `Backends/`. Names and defaults are the Go registry's, so an
/// existing deployment can swap the binary; every flag can also be set through its
/// environment variable (see ``SettingResolver``). Values are kept raw here and checked
/// by ``ServerConfiguration/init(options:environment:)``.
public struct ServerOptions: ParsableArguments {
    @Option(name: .customLong("backend"), help: help("Storage backend: memory, redis, etcd or consul.", "memory", "backend"))
    public var backend: String?

    @Option(name: .customLong("grpc-listen-address"), help: help("IP address to listen on.", "0.0.0.0", "grpc-listen-address"))
    public var grpcListenAddress: String?

    @Option(name: .customLong("grpc-listen-port"), help: help("Port to listen on (0 picks a free one).", "50051", "grpc-listen-port"))
    public var grpcListenPort: String?

    @Flag(name: .customLong("tls-enabled"), inversion: .prefixedNo, help: help("Serve TLS with the PEM certificate and key below.", "false", "tls-enabled"))
    public var tlsEnabled: Bool?

    @Option(name: .customLong("tls-cert-path"), help: help("PEM certificate chain for TLS.", nil, "tls-cert-path"))
    public var tlsCertPath: String?

    @Option(name: .customLong("tls-key-path"), help: help("PEM private key for TLS.", nil, "tls-key-path"))
    public var tlsKeyPath: String?

    @Option(
        name: .customLong("tls-client-ca-path"),
        help: help("PEM CA certificates; with --tls-enabled, clients must present a certificate they signed (mutual TLS).", nil, "tls-client-ca-path")
    )
    public var tlsClientCAPath: String?

    @Option(
        name: .customLong("auth-file"),
        help: help("JSON policy mapping bearer tokens and client certificates to roles (docs/security.md); reloaded on SIGHUP.", nil, "auth-file")
    )
    public var authFile: String?

    @Flag(
        name: .customLong("auth-protect-health"), inversion: .prefixedNo,
        help: help("Require a credential for health and reflection too (they are open to probes by default).", "false", "auth-protect-health")
    )
    public var authProtectHealth: Bool?

    @Option(name: .customLong("relay-ttl"), help: help("How long a relay stays live after its last heartbeat (1s to 24h).", "30s", "relay-ttl"))
    public var relayTTL: String?

    @Option(name: .customLong("agent-ttl"), help: help("How long an agent stays live after its last heartbeat (1s to 24h).", "30s", "agent-ttl"))
    public var agentTTL: String?

    @Option(name: .customLong("heartbeat-interval"), help: help("Heartbeat interval relays are expected to use; advisory.", "1s", "heartbeat-interval"))
    public var heartbeatInterval: String?

    @Option(
        name: .customLong("metrics-listen-address"),
        help: help("IP address to serve Prometheus metrics on (GET /metrics); setting it or --metrics-port turns metrics on.", "0.0.0.0", "metrics-listen-address")
    )
    public var metricsListenAddress: String?

    @Option(
        name: .customLong("metrics-port"),
        help: help("Port to serve Prometheus metrics on (0 picks a free one); unset, no metrics are served.", "9464 when only the address is set", "metrics-port")
    )
    public var metricsPort: String?

    @Flag(
        name: .customLong("stale-reads"), inversion: .prefixedNo,
        help: help(
            "While the store is unreachable, answer placement reads from what this replica last confirmed (flagged stale), and keep the overall health SERVING.",
            "true", "stale-reads"
        )
    )
    public var staleReads: Bool?

    @Option(
        name: .customLong("outage-grace-max"),
        help: help(
            "The most a store outage (or a stall of this process, on the memory backend) extends the deadlines of relays and agents live when it began; 0 turns outage grace off.",
            "the relay TTL", "outage-grace-max"
        )
    )
    public var outageGraceMax: String?

    @Option(name: .customLong("shutdown-timeout"), help: help("How long a graceful shutdown may drain in-flight calls.", "30s", "shutdown-timeout"))
    public var shutdownTimeout: String?

    @Option(name: .customLong("max-relays"), help: help("Most relays stored at once; more registrations get RESOURCE_EXHAUSTED.", "10000", "max-relays"))
    public var maxRelays: String?

    @Option(name: .customLong("max-agents"), help: help("Most agents stored at once; more registrations get RESOURCE_EXHAUSTED.", "1000000", "max-agents"))
    public var maxAgents: String?

    @Option(name: .customLong("cleanup-interval"), help: help("How often expired entries are removed, for backends without native expiry (jittered by 10%).", "1s", "cleanup-interval"))
    public var cleanupInterval: String?

    @Option(name: .customLong("log-level"), help: help("trace, debug, info, notice, warning (or warn), error or critical.", "info", "log-level"))
    public var logLevel: String?

    @Option(name: .customLong("log-format"), help: help("text or json.", "text", "log-format"))
    public var logFormat: String?

    @OptionGroup(title: "gRPC connections")
    public var grpc: GRPCOptions

    @OptionGroup(title: "Redis backend (--backend redis)")
    public var redis: RedisOptions

    @OptionGroup(title: "etcd backend (--backend etcd)")
    public var etcd: EtcdOptions

    @OptionGroup(title: "Consul backend (--backend consul)")
    public var consul: ConsulOptions

    public init() {}

    /// Flags that take no value (and accept Go's `--flag=true|false`).
    public static let booleanFlags: Set<String> = ["tls-enabled", "grpc-keepalive-permit-without-calls", "stale-reads", "auth-protect-health"]
}

func help(_ text: String, _ defaultValue: String?, _ flag: String) -> ArgumentHelp {
    let defaultText = defaultValue.map { "default: \($0); " } ?? ""
    return ArgumentHelp("\(text) (\(defaultText)env \(SettingResolver.environmentName(of: flag)))")
}
