public import GRPCCore
public import RegistryCore

/// The one place registry errors become gRPC statuses.
extension RegistryError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch self.code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .failedPrecondition: .failedPrecondition
        case .resourceExhausted: .resourceExhausted
        case .unavailable: .unavailable
        default: .internalError
        }
    }

    public var rpcErrorMessage: String {
        // A bug's details are logged, not sent to clients.
        self.code == .internalError ? "internal error" : self.message
    }
}
