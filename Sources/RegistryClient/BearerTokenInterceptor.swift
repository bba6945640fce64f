public import GRPCCore

/// Sends `authorization: Bearer <token>` with every call, for a registry started with
/// `--auth-file` (docs/security.md).
public struct BearerTokenInterceptor: ClientInterceptor {
    private let value: String

    public init(token: String) {
        self.value = "Bearer " + token
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>,
        context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.replaceOrAddString(self.value, forKey: "authorization")
        return try await next(request, context)
    }
}
