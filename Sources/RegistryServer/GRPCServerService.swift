#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import ServiceLifecycle

/// Runs a gRPC server as a service: serves until graceful shutdown, then stops accepting
/// calls and drains the ones in flight. (The package that ships such an adapter is not
/// available to this project, so this small one is ours.)
struct GRPCServerService: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    /// What the server was asked to listen on, for error messages.
    let requestedAddress: String
    /// Called once the server is listening, with the address it is bound to.
    let onListening: @Sendable (GRPCNIOTransportHTTP2.SocketAddress) -> Void

    func run() async throws {
        try await withGracefulShutdownHandler {
            do {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask {
                        try await self.server.serve()
                    }
                    if let address = try? await self.server.transport.listeningAddress {
                        self.onListening(address)
                    }
                }
            } catch {
                throw ListenError(address: self.requestedAddress, cause: error)
            }
        } onGracefulShutdown: {
            self.server.beginGracefulShutdown()
        }
    }
}

extension GRPCServerService: CustomStringConvertible {
    var description: String { "GRPCServer" }
}

/// The server could not listen, or its transport failed: says where, and the system's reason.
struct ListenError: Error, CustomStringConvertible {
    let address: String
    let cause: any Error

    var description: String {
        var current: (any Error)? = self.cause
        while let error = current {
            if let io = error as? IOError {
                return "cannot listen on \(self.address): \(String(cString: strerror(io.errnoCode)))"
            }
            current = (error as? RuntimeError)?.cause
        }
        return "the gRPC server on \(self.address) failed: \(self.cause)"
    }
}
