public import ArgumentParser
public import GRPCNIOTransportHTTP2

/// Flags for the gRPC server's connections: HTTP/2 and keepalive limits. The Go registry
/// has none of these (grpc-go's defaults apply there); ours are chosen for a fleet's
/// bursts and documented in the README's "Connections and limits".
public struct GRPCOptions: ParsableArguments {
    @Option(name: .customLong("grpc-max-concurrent-streams"), help: help("Most calls in flight on one client connection; more are refused (REFUSED_STREAM) and retried by the client.", "1000", "grpc-max-concurrent-streams"))
    public var maxConcurrentStreams: String?

    @Option(name: .customLong("grpc-max-request-bytes"), help: help("Largest request message accepted; larger ones fail with RESOURCE_EXHAUSTED.", "4194304", "grpc-max-request-bytes"))
    public var maxRequestBytes: String?

    @Option(name: .customLong("grpc-keepalive-time"), help: help("How long a connection may be silent before the server pings the client.", "2h", "grpc-keepalive-time"))
    public var keepaliveTime: String?

    @Option(name: .customLong("grpc-keepalive-timeout"), help: help("How long the server waits for a ping's answer before closing the connection.", "20s", "grpc-keepalive-timeout"))
    public var keepaliveTimeout: String?

    @Option(name: .customLong("grpc-keepalive-min-time"), help: help("Shortest interval at which clients may ping; faster pingers are disconnected.", "10s", "grpc-keepalive-min-time"))
    public var keepaliveMinTime: String?

    @Flag(name: .customLong("grpc-keepalive-permit-without-calls"), inversion: .prefixedNo, help: help("Let clients ping while they have no call in flight.", "true", "grpc-keepalive-permit-without-calls"))
    public var keepalivePermitWithoutCalls: Bool?

    @Option(name: .customLong("grpc-max-connection-idle"), help: help("Close a connection with no call for this long (0: never).", "0", "grpc-max-connection-idle"))
    public var maxConnectionIdle: String?

    @Option(name: .customLong("grpc-max-connection-age"), help: help("Gracefully close a connection this old, so clients rebalance across replicas (0: never).", "0", "grpc-max-connection-age"))
    public var maxConnectionAge: String?

    @Option(name: .customLong("grpc-max-connection-age-grace"), help: help("After the age above, how long calls in flight may finish before the connection is closed (0: no limit).", "0", "grpc-max-connection-age-grace"))
    public var maxConnectionAgeGrace: String?

    public init() {}
}

/// The gRPC server's connection limits.
public struct GRPCSettings: Sendable, Equatable {
    /// Most streams (calls) in flight per connection, as advertised and enforced.
    public var maxConcurrentStreams = 1000
    /// Largest request message, in bytes.
    public var maxRequestBytes = 4 * 1024 * 1024
    /// Silence after which the server pings.
    public var keepaliveTime: Duration = .seconds(2 * 60 * 60)
    /// How long a ping may go unanswered.
    public var keepaliveTimeout: Duration = .seconds(20)
    /// Shortest client ping interval tolerated.
    public var keepaliveMinTime: Duration = .seconds(10)
    /// Whether clients may ping with no call in flight.
    public var keepalivePermitWithoutCalls = true
    /// Idle connections are closed after this; nil: never.
    public var maxConnectionIdle: Duration?
    /// Connections are gracefully closed at this age; nil: never.
    public var maxConnectionAge: Duration?
    /// Time calls get to finish once a connection is closing for age; nil: unlimited.
    public var maxConnectionAgeGrace: Duration?

    static let maxConcurrentStreamsRange = 1...1_000_000
    static let maxRequestBytesRange = 1024...(64 * 1024 * 1024)

    public init() {}

    init(options: GRPCOptions, settings: SettingResolver) throws(ConfigurationError) {
        self.maxConcurrentStreams = try settings.integer(
            "grpc-max-concurrent-streams", options.maxConcurrentStreams, default: 1000, range: Self.maxConcurrentStreamsRange
        )
        self.maxRequestBytes = try settings.integer(
            "grpc-max-request-bytes", options.maxRequestBytes, default: 4 * 1024 * 1024, range: Self.maxRequestBytesRange
        )
        self.keepaliveTime = try settings.duration(
            "grpc-keepalive-time", options.keepaliveTime, default: .seconds(2 * 60 * 60), range: .seconds(1) ... .seconds(24 * 60 * 60)
        )
        self.keepaliveTimeout = try settings.duration(
            "grpc-keepalive-timeout", options.keepaliveTimeout, default: .seconds(20), range: .seconds(1) ... .seconds(60 * 60)
        )
        self.keepaliveMinTime = try settings.duration(
            "grpc-keepalive-min-time", options.keepaliveMinTime, default: .seconds(10), range: .seconds(1) ... .seconds(24 * 60 * 60)
        )
        self.keepalivePermitWithoutCalls = try settings.boolean(
            "grpc-keepalive-permit-without-calls", options.keepalivePermitWithoutCalls, default: true
        )
        func optional(_ flag: String, _ value: String?) throws(ConfigurationError) -> Duration? {
            let duration = try settings.duration(flag, value, default: .zero, range: .zero ... .seconds(30 * 24 * 60 * 60))
            return duration == .zero ? nil : duration
        }
        self.maxConnectionIdle = try optional("grpc-max-connection-idle", options.maxConnectionIdle)
        self.maxConnectionAge = try optional("grpc-max-connection-age", options.maxConnectionAge)
        self.maxConnectionAgeGrace = try optional("grpc-max-connection-age-grace", options.maxConnectionAgeGrace)
    }

    /// The transport's configuration for these settings.
    public var transportConfig: HTTP2ServerTransport.Posix.Config {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        // NIOHTTP2 enforces only the hard limit; the advertised one is enforced, with
        // refusals instead of connection errors, by HTTP2StreamLimit's handlers.
        config.http2.maxConcurrentStreams = HTTP2StreamLimit.hardLimit
        config.rpc.maxRequestPayloadSize = self.maxRequestBytes
        config.connection.maxIdleTime = self.maxConnectionIdle
        config.connection.maxAge = self.maxConnectionAge
        config.connection.maxGraceTime = self.maxConnectionAgeGrace
        config.connection.keepalive = HTTP2ServerTransport.Config.Keepalive(
            time: self.keepaliveTime,
            timeout: self.keepaliveTimeout,
            clientBehavior: HTTP2ServerTransport.Config.ClientKeepaliveBehavior(
                minPingIntervalWithoutCalls: self.keepaliveMinTime,
                allowWithoutCalls: self.keepalivePermitWithoutCalls
            )
        )
        config.channelDebuggingCallbacks = HTTP2StreamLimit.callbacks(limit: self.maxConcurrentStreams)
        return config
    }
}
