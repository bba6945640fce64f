public import CoreMetrics
public import GRPCCore
import Synchronization

/// Records every RPC under the names go-grpc-prometheus made standard, so existing gRPC
/// dashboards and alerts work unchanged: `grpc_server_started_total`,
/// `grpc_server_handled_total` (with `grpc_code`) and `grpc_server_handling_seconds`,
/// labelled `grpc_type`, `grpc_service` and `grpc_method`. One interceptor for every
/// service the server has (v1, the fleet extension, health, reflection).
public struct MetricsInterceptor: ServerInterceptor {
    private let factory: any MetricsFactory
    /// Each method's handles, made once: a call then costs one dictionary lookup, not a
    /// lookup of every series in the metrics backend.
    private let handles = HandleCache()

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// The series of one method.
    final class MethodHandles: Sendable {
        let started: Counter
        let handling: Timer
        private let labels: [(String, String)]
        private let factory: any MetricsFactory
        private let handled = Mutex<[RPCError.Code?: Counter]>([:])

        init(labels: [(String, String)], factory: any MetricsFactory) {
            self.labels = labels
            self.factory = factory
            self.started = Counter(label: "grpc_server_started_total", dimensions: labels, factory: factory)
            self.handling = Timer(label: "grpc_server_handling_seconds", dimensions: labels, factory: factory)
        }

        func handled(_ code: RPCError.Code?) -> Counter {
            self.handled.withLock { counters in
                if let counter = counters[code] { return counter }
                let counter = Counter(
                    label: "grpc_server_handled_total",
                    dimensions: self.labels + [("grpc_code", MetricsInterceptor.name(of: code))],
                    factory: self.factory
                )
                counters[code] = counter
                return counter
            }
        }
    }

    final class HandleCache: Sendable {
        private let methods = Mutex<[MethodDescriptor: MethodHandles]>([:])

        func handles(for method: MethodDescriptor, factory: any MetricsFactory) -> MethodHandles {
            self.methods.withLock { methods in
                if let handles = methods[method] { return handles }
                let labels = [
                    ("grpc_type", MetricsInterceptor.type(of: method)),
                    ("grpc_service", method.service.fullyQualifiedService),
                    ("grpc_method", method.method),
                ]
                let handles = MethodHandles(labels: labels, factory: factory)
                methods[method] = handles
                return handles
            }
        }
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let labels = self.handles.handles(for: context.descriptor, factory: self.factory)
        labels.started.increment()
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

    private func handled(_ handles: MethodHandles, _ start: ContinuousClock.Instant, code: RPCError.Code?) {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        handles.handled(code).increment()
        handles.handling.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// The registry's only streaming methods are health's Watch and reflection.
    fileprivate static func type(of method: MethodDescriptor) -> String {
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
    fileprivate static func name(of code: RPCError.Code?) -> String {
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
