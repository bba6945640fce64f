public import GRPCCore
public import RegistryCore
public import RegistryProtos
public import ServiceLifecycle
import SwiftProtobuf

/// The standard gRPC health service (`grpc.health.v1.Health`), so load balancers,
/// Kubernetes probes and grpc_health_probe can ask whether the registry can serve.
///
/// The server as a whole ("") and the `aeroarc.registry.v1.AeroRegistry` service are
/// SERVING while the backend reports serving, NOT_SERVING while it does not (e.g. its
/// store is unreachable), and NOT_SERVING from the start of graceful shutdown, when every
/// Watch stream gets that last status and ends, so draining is not held up by watchers.
///
/// Run it as a service after the gRPC server in the service group, so it shuts down first.
public final class HealthService: Sendable {
    /// The names Check and Watch answer for.
    public let serviceNames: Set<String>
    private let backendHealth: HealthReporter
    private let serverHealth: HealthReporter

    public init(
        backendHealth: HealthReporter,
        serviceNames: Set<String> = ["", AeroRegistryService.serviceName, FleetRegistryService.serviceName]
    ) {
        self.backendHealth = backendHealth
        self.serverHealth = HealthReporter(backendHealth.status)
        self.serviceNames = serviceNames
    }

    /// The status the server reports now.
    public var status: HealthReporter.Status {
        self.serverHealth.status
    }
}

extension HealthService {
    /// The fully qualified name of the health service.
    public static let protocolServiceName = Grpc_Health_V1_Health.descriptor.fullyQualifiedService
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
        for await status in self.backendHealth.updates().cancelOnGracefulShutdown() {
            self.serverHealth.report(status)
        }
        self.serverHealth.report(.notServing(reason: "shutting down"))
        self.serverHealth.finish()
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
        return .init(self.serverHealth.status)
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
        let updates = self.serverHealth.updates()
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
