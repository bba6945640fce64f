public import GRPCCore
public import Logging
import RegistryCore

/// Logs every RPC's outcome and turns errors outside the contract into clean statuses.
///
/// Client mistakes (invalid argument, not found) are logged at debug, storage trouble at
/// warning, and anything unexpected at error; the latter reaches the client as INTERNAL
/// with a generic message. A cancelled handler reports CANCELLED.
public struct RequestLoggingInterceptor: ServerInterceptor {
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            if self.logger.logLevel <= .trace {
                self.logger.trace("rpc ok", metadata: self.metadata(context, start))
            }
            return response
        } catch let error as RPCError {
            self.log(error, context, start)
            throw error
        } catch let error as any RPCErrorConvertible {
            let rpcError = RPCError(error)
            self.log(rpcError, context, start)
            throw rpcError
        } catch is CancellationError {
            throw RPCError(code: .cancelled, message: "the call was cancelled")
        } catch {
            var metadata = self.metadata(context, start)
            metadata["error"] = "\(String(reflecting: error))"
            self.logger.error("rpc failed with an unexpected error", metadata: metadata)
            throw RPCError(code: .internalError, message: "internal error")
        }
    }

    private func log(_ error: RPCError, _ context: ServerContext, _ start: ContinuousClock.Instant) {
        let level: Logger.Level =
            switch error.code {
            case .internalError, .unknown, .dataLoss: .error
            case .unavailable, .resourceExhausted, .deadlineExceeded: .warning
            default: .debug
            }
        guard self.logger.logLevel <= level else { return }
        var metadata = self.metadata(context, start)
        metadata["code"] = "\(error.code)"
        metadata["message"] = "\(error.message)"
        if let cause = error.cause {
            metadata["cause"] = "\(cause)"
        }
        self.logger.log(level: level, "rpc failed", metadata: metadata)
    }

    private func metadata(_ context: ServerContext, _ start: ContinuousClock.Instant) -> Logger.Metadata {
        [
            "method": "\(context.descriptor.fullyQualifiedMethod)",
            "peer": "\(context.remotePeer)",
            "duration_ms": "\((ContinuousClock.now - start).wholeMillisecondsDouble)",
        ]
    }
}

extension Duration {
    fileprivate var wholeMillisecondsDouble: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
