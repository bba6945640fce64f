public import CoreMetrics
public import GRPCCore

/// Records every RPC under the names go-grpc-prometheus made standard, so existing gRPC
/// dashboards and alerts work unchanged: `grpc_server_started_total`,
/// `grpc_server_handled_total` (with `grpc_code`) and `grpc_server_handling_seconds`,
/// labelled `grpc_type`, `grpc_service` and `grpc_method`. One interceptor for every
/// service the server has (v1, the fleet extension, health, reflection).
public struct MetricsInterceptor: ServerInterceptor {
    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let labels = [
            ("grpc_type", Self.type(of: context.descriptor)),
            ("grpc_service", context.descriptor.service.fullyQualifiedService),
            ("grpc_method", context.descriptor.method),
        ]
        Counter(label: "grpc_server_started_total", dimensions: labels, factory: self.factory).increment()
        let start = ContinuousClock.now
        let response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            self.handled(labels, start, code: Self.code(of: error))
            throw error
        }
        switch response.accepted {
        case .failure(let error):
            self.handled(labels, start, code: error.code)
            return response
        case .success(var contents):
            // Streams end when their producer returns: that is when the call is handled.
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await producer(writer)
                    self.handled(labels, start, code: nil)
                    return trailers
                } catch {
                    self.handled(labels, start, code: Self.code(of: error))
                    throw error
                }
            }
            return StreamingServerResponse(accepted: .success(contents))
        }
    }

    private func handled(_ labels: [(String, String)], _ start: ContinuousClock.Instant, code: RPCError.Code?) {
        let elapsed = ContinuousClock.now - start
        Counter(label: "grpc_server_handled_total", dimensions: labels + [("grpc_code", Self.name(of: code))], factory: self.factory)
            .increment()
        let (seconds, attoseconds) = elapsed.components
        Timer(label: "grpc_server_handling_seconds", dimensions: labels, factory: self.factory)
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// The registry's only streaming methods are health's Watch and reflection.
    private static func type(of method: MethodDescriptor) -> String {
        switch (method.service.fullyQualifiedService, method.method) {
        case ("grpc.health.v1.Health", "Watch"): "server_stream"
        case ("grpc.reflection.v1.ServerReflection", _), ("grpc.reflection.v1alpha.ServerReflection", _): "bidi_stream"
        default: "unary"
        }
    }

    private static func code(of error: any Error) -> RPCError.Code {
        switch error {
        case let error as RPCError: error.code
        case let error as any RPCErrorConvertible: error.rpcErrorCode
        case is CancellationError: .cancelled
        default: .unknown
        }
    }

    /// The status code as gRPC names it (`OK`, `NOT_FOUND`, ...), as go-grpc-prometheus labels it.
    private static func name(of code: RPCError.Code?) -> String {
        guard let code else { return "OK" }
        return switch code {
        case .cancelled: "Canceled"
        case .unknown: "Unknown"
        case .invalidArgument: "InvalidArgument"
        case .deadlineExceeded: "DeadlineExceeded"
        case .notFound: "NotFound"
        case .alreadyExists: "AlreadyExists"
        case .permissionDenied: "PermissionDenied"
        case .resourceExhausted: "ResourceExhausted"
        case .failedPrecondition: "FailedPrecondition"
        case .aborted: "Aborted"
        case .outOfRange: "OutOfRange"
        case .unimplemented: "Unimplemented"
        case .internalError: "Internal"
        case .unavailable: "Unavailable"
        case .dataLoss: "DataLoss"
        case .unauthenticated: "Unauthenticated"
        default: "Unknown"
        }
    }
}
