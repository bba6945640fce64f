import GRPCCore
import GRPCNIOTransportHTTP2
public import Logging
import Prometheus
public import RegistryCore
import RegistryGRPC
import ServiceLifecycle
import UnixSignals

/// The whole server: backend, expiry sweeper, gRPC server and health reporting, run as
/// one service group. Services start in that order and stop in reverse, so on SIGINT or
/// SIGTERM health turns NOT_SERVING first, then the server stops accepting calls and
/// drains the ones in flight (for at most the shutdown timeout), then the sweeper and
/// the backend stop.
public struct RegistryApplication: Sendable {
    public let configuration: ServerConfiguration
    private let group: ServiceGroup
    private let transport: HTTP2ServerTransport.Posix
    private let metricsEndpoint: MetricsEndpoint?

    /// Builds every component without starting anything.
    /// - Parameter handleSignals: whether SIGINT and SIGTERM trigger graceful shutdown
    ///   (the executable's choice; in-process tests leave it off).
    public init(configuration: ServerConfiguration, logger: Logger, handleSignals: Bool = true) throws {
        let metrics = configuration.metrics.map { _ in PrometheusCollectorRegistry() }
        try self.init(
            configuration: configuration,
            backend: try BackendFactory.make(configuration, metrics: Self.registryMetrics(metrics, configuration), logger: logger),
            metrics: metrics,
            logger: logger,
            handleSignals: handleSignals
        )
    }

    /// Builds the server around a given backend (tests inject one on a manual clock).
    public init(
        configuration: ServerConfiguration,
        backend: any RegistryBackend,
        logger: Logger,
        handleSignals: Bool = false
    ) throws {
        try self.init(
            configuration: configuration,
            backend: backend,
            metrics: configuration.metrics.map { _ in PrometheusCollectorRegistry() },
            logger: logger,
            handleSignals: handleSignals
        )
    }

    /// What the library records into: the Prometheus registry when metrics are on.
    private static func registryMetrics(_ metrics: PrometheusCollectorRegistry?, _ configuration: ServerConfiguration) -> RegistryMetrics {
        metrics.map { RegistryMetrics(factory: Self.metricsFactory(for: $0), backendName: configuration.backend.rawValue) } ?? .disabled
    }

    private init(
        configuration: ServerConfiguration,
        backend: any RegistryBackend,
        metrics: PrometheusCollectorRegistry?,
        logger: Logger,
        handleSignals: Bool
    ) throws {
        self.configuration = configuration
        // The memory backend is never unreachable: nothing to cache for.
        let staleReads =
            configuration.staleReads && configuration.backend != .memory
            ? StaleReadCache(ttl: backend.ttl, graceMax: configuration.outageGraceMax, capacity: configuration.limits.maxAgents)
            : nil
        let registryMetrics = Self.registryMetrics(metrics, configuration)
        let registry = Registry(backend: backend, staleReads: staleReads, metrics: registryMetrics, logger: logger)

        guard let listenAddress = ListenAddress(configuration.listenAddress) else {
            throw ConfigurationError("invalid listen address '\(configuration.listenAddress)'")
        }
        let security: HTTP2ServerTransport.Posix.TransportSecurity =
            if let tls = configuration.tls, let clientCA = tls.clientCAPath {
                // Mutual TLS: the handshake fails for a client without a certificate
                // signed by the client CA (expired, self-signed or another CA's alike).
                .mTLS(
                    certificateChain: [.file(path: tls.certificatePath, format: .pem)],
                    privateKey: .file(path: tls.keyPath, format: .pem)
                ) { config in
                    config.trustRoots = .certificates([.file(path: clientCA, format: .pem)])
                    config.clientCertificateVerification = .noHostnameVerification
                }
            } else if let tls = configuration.tls {
                .tls(
                    certificateChain: [.file(path: tls.certificatePath, format: .pem)],
                    privateKey: .file(path: tls.keyPath, format: .pem)
                )
            } else {
                .plaintext
            }
        self.transport = HTTP2ServerTransport.Posix(
            address: listenAddress.socketAddress(port: configuration.listenPort),
            transportSecurity: security,
            config: configuration.grpc.transportConfig
        )

        let health = HealthService(backendHealth: backend.health, servesThroughStoreOutage: staleReads != nil)
        let registryService = AeroRegistryService(registry: registry)
        let fleetService = FleetRegistryService(registry: registry, heartbeatInterval: configuration.heartbeatInterval)
        let census = FleetCensus(registry: registry, logger: logger)
        let admin = RegistryAdminService(
            registry: registry,
            census: census,
            settings: .init(
                version: RegistryAdminService.version,
                backendName: configuration.backend.rawValue,
                startedAt: SystemWallClock().now(),
                limits: configuration.limits,
                outageGraceMax: configuration.outageGraceMax,
                staleReads: staleReads != nil
            ),
            logger: logger
        )
        let reflection = try ReflectionService(
            services: [
                AeroRegistryService.serviceName,
                FleetRegistryService.serviceName,
                RegistryAdminService.serviceName,
                HealthService.protocolServiceName,
            ] + ReflectionService.serviceNames
        )
        // Authorization: with a policy file, the interceptor decides every call; with mutual
        // TLS alone, the handshake is the whole check.
        let policyStore: AccessPolicyStore?
        if let path = configuration.auth?.policyPath {
            do {
                policyStore = AccessPolicyStore(try AccessPolicy(contentsOfFile: path))
            } catch {
                throw ConfigurationError("invalid --auth-file: \(error)")
            }
        } else {
            policyStore = nil
        }
        var interceptors: [any ServerInterceptor] = []
        // Metrics outermost, so that they see the statuses the inner interceptors settle.
        if metrics != nil { interceptors.append(MetricsInterceptor(factory: registryMetrics.factory)) }
        interceptors.append(RequestLoggingInterceptor(logger: logger))
        if let policyStore {
            interceptors.append(
                AuthorizationInterceptor(store: policyStore, protectHealth: configuration.auth?.protectHealth ?? false, logger: logger) { context in
                    (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
                }
            )
        }
        let server = GRPCServer(
            transport: self.transport,
            services: [registryService, fleetService, admin, health] + reflection.services,
            interceptors: interceptors
        )

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: backend)]
        if backend.expiry == .sweep {
            services.append(
                .init(service: ExpirySweeper(backend: backend, interval: configuration.cleanupInterval, metrics: registryMetrics, logger: logger))
            )
        }
        let requested = ListenAddress(configuration.listenAddress).map { $0.isIPv6 ? "[\($0.host)]" : $0.host } ?? configuration.listenAddress
        let serverService = GRPCServerService(server: server, requestedAddress: "\(requested):\(configuration.listenPort)") { address in
            logger.info(
                "aero-arc-registry listening",
                metadata: [
                    "address": "\(configuration.listenAddress)",
                    "port": "\(address.port.map(String.init) ?? "\(address)")",
                    "backend": "\(configuration.backend.rawValue)",
                    "tls": "\(configuration.tls == nil ? "off" : configuration.tls?.clientCAPath == nil ? "on" : "mutual")",
                    "auth": "\(configuration.auth == nil ? "off" : configuration.auth?.policyPath == nil ? "client certificates" : "policy")",
                    "relay_ttl": "\(configuration.ttl.relayTTL.goDescription)",
                    "agent_ttl": "\(configuration.ttl.agentTTL.goDescription)",
                ]
            )
        }
        services.append(.init(service: serverService))
        services.append(.init(service: health))
        services.append(.init(service: census))
        if handleSignals, let policyStore, let path = configuration.auth?.policyPath {
            services.append(.init(service: PolicyReloader(path: path, store: policyStore, logger: logger)))
        }
        if let listener = configuration.metrics, let metrics {
            let process = ProcessMetrics(registry: metrics, startTime: SystemWallClock().now())
            let outages = OutageMetrics(registry: metrics)
            let endpoint = MetricsEndpoint(host: listener.address, port: listener.port, registry: metrics, logger: logger) {
                process.refresh()
                outages.refresh(from: backend.outageTracker)
                registryMetrics.storeUp(backend.health.status.isServing)
            }
            self.metricsEndpoint = endpoint
            services.append(.init(service: endpoint))
        } else {
            self.metricsEndpoint = nil
        }

        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        if handleSignals {
            groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        }
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        self.group = ServiceGroup(configuration: groupConfiguration)
    }

    /// Runs until graceful shutdown completes or a component fails.
    public func run() async throws {
        try await self.group.run()
    }

    /// Starts graceful shutdown, as SIGTERM does.
    public func triggerGracefulShutdown() async {
        await self.group.triggerGracefulShutdown()
    }

    /// The Prometheus factory: clock skew gets buckets around zero (skew is signed).
    private static func metricsFactory(for registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["aero_arc_registry_client_clock_skew_seconds"] = [
            -60, -10, -1, -0.25, -0.05, -0.01, 0, 0.01, 0.05, 0.25, 1, 10, 60,
        ]
        return factory
    }

    /// The port metrics are served on, once bound; nil when metrics are off.
    public var metricsPort: Int? {
        self.metricsEndpoint?.boundPort
    }

    /// The port the server is bound to, once it is listening.
    public func listeningPort() async throws -> Int {
        let address = try await self.transport.listeningAddress
        guard let port = address.port else {
            throw ConfigurationError("the server is not bound to a TCP port")
        }
        return port
    }
}

extension GRPCNIOTransportHTTP2.SocketAddress {
    var port: Int? {
        self.ipv4?.port ?? self.ipv6?.port
    }
}
