public import GRPCCore
public import RegistryCore
public import RegistryProtos
public import ServiceLifecycle
import SwiftProtobuf

/// The standard gRPC health service (`grpc.health.v1.Health`), so load balancers,
/// Kubernetes probes and grpc_health_probe can ask whether the registry can serve.
///
/// The store's own service, `aeroarc.registry.v1.AeroRegistry.store`, is SERVING while
/// the backend reports serving and NOT_SERVING while its store is unreachable: the one to
/// alert on. The server as a whole ("") and the registry services follow the store too,
/// unless the registry serves through a store outage (stale reads, see
/// docs/degraded-operation.md): then, once the store has been reached, they stay SERVING
/// through its outages, so that load balancers and readiness probes do not pull every
/// replica at once for a shared store's outage. Every service is NOT_SERVING from the
/// start of graceful shutdown, when every Watch stream gets that last status and ends, so
/// draining is not held up by watchers.
///
/// Run it as a service after the gRPC server in the service group, so it shuts down first.
public final class HealthService: Sendable {
    /// The names Check and Watch answer for.
    public let serviceNames: Set<String>
    private let backendHealth: HealthReporter
    private let serverHealth: HealthReporter
    private let storeHealth: HealthReporter
    private let servesThroughStoreOutage: Bool

    public init(
        backendHealth: HealthReporter,
        servesThroughStoreOutage: Bool = false,
        serviceNames: Set<String> = ["", AeroRegistryService.serviceName, FleetRegistryService.serviceName]
    ) {
        self.backendHealth = backendHealth
        self.serverHealth = HealthReporter(backendHealth.status)
        self.storeHealth = HealthReporter(backendHealth.status)
        self.servesThroughStoreOutage = servesThroughStoreOutage
        self.serviceNames = serviceNames.union([Self.storeServiceName])
    }

    /// The status the server reports now.
    public var status: HealthReporter.Status {
        self.serverHealth.status
    }

    /// The reporter behind a service name.
    private func reporter(for service: String) -> HealthReporter {
        service == Self.storeServiceName ? self.storeHealth : self.serverHealth
    }
}

extension HealthService {
    /// The fully qualified name of the health service.
    public static let protocolServiceName = Grpc_Health_V1_Health.descriptor.fullyQualifiedService
    /// The health service name of the registry's store, for alerting.
    public static let storeServiceName = AeroRegistryService.serviceName + ".store"
}

extension AeroRegistryService {
    /// The fully qualified name of the registry service.
    public static let serviceName = Aeroarc_Registry_V1_AeroRegistry.descriptor.fullyQualifiedService
}

extension FleetRegistryService {
    /// The fully qualified name of the fleet service.
    public static let serviceName = Aeroarc_Registry_Fleet_V1_FleetRegistry.descriptor.fullyQualifiedService
}

extension HealthService: Service {
    /// Follows the backend's health until graceful shutdown, then reports NOT_SERVING and
    /// ends every watch.
    public func run() async throws {
        var reachedStore = false
        for await status in self.backendHealth.updates().cancelOnGracefulShutdown() {
            self.storeHealth.report(status)
            reachedStore = reachedStore || status.isServing
            self.serverHealth.report(self.servesThroughStoreOutage && reachedStore ? .serving : status)
        }
        for reporter in [self.serverHealth, self.storeHealth] {
            reporter.report(.notServing(reason: "shutting down"))
            reporter.finish()
        }
    }
}

extension HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    public func check(
        request: Grpc_Health_V1_HealthCheckRequest,
        context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard self.serviceNames.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
        }
        return .init(self.reporter(for: request.service).status)
    }

    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        let known = self.serviceNames.contains(request.service)
        if !known {
            try await response.write(.with { $0.status = .serviceUnknown })
        }
        let updates = self.reporter(for: request.service).updates()
        try await withRPCCancellationHandler {
            var last: Grpc_Health_V1_HealthCheckResponse.ServingStatus?
            for await status in updates where known {
                let message = Grpc_Health_V1_HealthCheckResponse(status)
                if message.status != last {
                    try await response.write(message)
                    last = message.status
                }
            }
        } onCancelRPC: {
            updates.stop()
        }
    }
}

extension Grpc_Health_V1_HealthCheckResponse {
    init(_ status: HealthReporter.Status) {
        self.init()
        self.status = status.isServing ? .serving : .notServing
    }
}

extension HealthService: CustomStringConvertible {
    public var description: String { "HealthService" }
}
