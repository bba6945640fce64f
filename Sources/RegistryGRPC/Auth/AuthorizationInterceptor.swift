public import GRPCCore
public import Logging
import RegistryProtos
import Synchronization
public import X509

/// The access policy in force, read once per call and swapped whole by ``replace(_:)``
/// (on SIGHUP, say) without dropping or blocking calls in flight: a call decides with the
/// policy it read when it started.
public final class AccessPolicyStore: Sendable {
    private let policy: Mutex<AccessPolicy>

    public init(_ policy: AccessPolicy) {
        self.policy = Mutex(policy)
    }

    /// The policy in force now.
    public var current: AccessPolicy {
        self.policy.withLock { $0 }
    }

    /// Puts `policy` in force for every call that starts from now on.
    public func replace(_ policy: AccessPolicy) {
        self.policy.withLock { $0 = policy }
    }
}

/// Authorizes every call against an ``AccessPolicy`` before its handler sees the request.
///
/// The caller is the `authorization: Bearer <token>` metadata if present (it alone decides),
/// else the verified client certificate's identity. The call is mapped to a
/// ``RegistryAction`` with the IDs its request names; a unary write's single request message
/// is read here, checked, and only then handed on, so a denied call changes nothing. Health
/// and reflection need no credential unless `protectHealth` is set; methods the interceptor
/// does not know are admin only.
///
/// A denial is thrown as `RPCError` (`UNAUTHENTICATED` or `PERMISSION_DENIED`) and logged as
/// one notice line: caller (never a token), method, IDs, code and reason. An allowed call
/// runs with ``AccessPolicy/Caller/current`` bound to its caller.
///
/// Install it inside the metrics and request-logging interceptors, so that denials are
/// counted and pass through logging as the statuses they are.
public struct AuthorizationInterceptor: ServerInterceptor {
    private let store: AccessPolicyStore
    private let protectHealth: Bool
    private let logger: Logger
    private let peerCertificate: @Sendable (ServerContext) -> Certificate?

    /// - Parameters:
    ///   - store: The policy in force.
    ///   - protectHealth: Whether health and reflection need a credential (any role may
    ///     call them) rather than being open.
    ///   - logger: Where denials are logged.
    ///   - peerCertificate: The call's verified client certificate, from its transport (nil
    ///     for plaintext or TLS without client certificates). With the Posix HTTP/2
    ///     transport: `{ ($0.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate }`.
    public init(
        store: AccessPolicyStore,
        protectHealth: Bool = false,
        logger: Logger,
        peerCertificate: @escaping @Sendable (ServerContext) -> Certificate? = { _ in nil }
    ) {
        self.store = store
        self.protectHealth = protectHealth
        self.logger = logger
        self.peerCertificate = peerCertificate
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.fullyQualifiedMethod
        let rule = Self.rules[method] ?? Self.serviceRules[context.descriptor.service.fullyQualifiedService]
        var request = request
        let action: RegistryAction
        switch rule {
        case .open:
            if !self.protectHealth { return try await next(request, context) }
            action = .read
        case .read:
            action = .read
        case .write(let mapping):
            // Unary: the one message the handler would read, read first and handed on after.
            let single = try await ServerRequest(stream: request)
            action = mapping(single.message) ?? .unknown(method)
            request = StreamingServerRequest(single: single)
        case nil:
            action = .unknown(method)
        }

        let credentials = CallerCredentials(metadata: request.metadata, certificate: self.peerCertificate(context))
        let (caller, decision) = self.store.current.authorize(action, credentials: credentials)
        switch decision {
        case .allow:
            break
        case .unauthenticated(let message):
            let error = RPCError(code: .unauthenticated, message: message)
            self.logDenial(error, who: caller?.description ?? credentials.description, action: action, context: context)
            throw error
        case .permissionDenied(let message):
            let error = RPCError(code: .permissionDenied, message: message)
            self.logDenial(error, who: caller?.description ?? credentials.description, action: action, context: context)
            throw error
        }

        let response = try await AccessPolicy.Caller.$current.withValue(caller) {
            try await next(request, context)
        }
        guard case .success(var contents) = response.accepted else { return response }
        // A streaming response is produced after `next` returns: bind the caller there too.
        let producer = contents.producer
        contents.producer = { writer in
            try await AccessPolicy.Caller.$current.withValue(caller) {
                try await producer(writer)
            }
        }
        return StreamingServerResponse(accepted: .success(contents))
    }

    private func logDenial(_ error: RPCError, who: String, action: RegistryAction, context: ServerContext) {
        var metadata: Logger.Metadata = [
            "caller": "\(who)",
            "method": "\(context.descriptor.fullyQualifiedMethod)",
            "code": "\(error.code == .unauthenticated ? "UNAUTHENTICATED" : "PERMISSION_DENIED")",
            "reason": "\(error.message)",
            "peer": "\(context.remotePeer)",
        ]
        if let relayID = action.relayID {
            metadata["relay_id"] = "\(relayID)"
        }
        if let agentID = action.agentID {
            metadata["agent_id"] = "\(agentID)"
        }
        self.logger.notice("rpc denied", metadata: metadata)
    }
}

extension AuthorizationInterceptor {
    /// How a method is authorized.
    enum MethodRule: Sendable {
        /// Health and reflection: open unless health is protected, then a read.
        case open
        /// A read: any recognised caller.
        case read
        /// A unary write: its action depends on its request message (nil if the message is
        /// not of the expected type, which makes the call admin only).
        case write(@Sendable (Any) -> RegistryAction?)
    }

    /// The rule of every method of the registry's services, by fully qualified method.
    static let rules: [String: MethodRule] = {
        typealias V1 = Aeroarc_Registry_V1_AeroRegistry.Method
        typealias Fleet = Aeroarc_Registry_Fleet_V1_FleetRegistry.Method
        typealias Admin = Aeroarc_Registry_Fleet_V1_RegistryAdmin.Method
        let reads = [
            V1.ListRelays.descriptor, V1.ListAgents.descriptor, V1.GetAgentPlacement.descriptor,
            Fleet.GetPlacements.descriptor, Fleet.ListPlacements.descriptor, Fleet.ListRelayStatuses.descriptor,
            Admin.GetStatus.descriptor,
        ]
        var rules: [String: MethodRule] = [:]
        for descriptor in reads {
            rules[descriptor.fullyQualifiedMethod] = .read
        }
        func write<Message>(_ descriptor: MethodDescriptor, _: Message.Type, _ action: @escaping @Sendable (Message) -> RegistryAction) {
            rules[descriptor.fullyQualifiedMethod] = .write { ($0 as? Message).map(action) }
        }
        write(V1.RegisterRelay.descriptor, V1.RegisterRelay.Input.self) { .registerRelay($0.relay.relayID) }
        write(V1.HeartbeatRelay.descriptor, V1.HeartbeatRelay.Input.self) { .heartbeatRelay($0.relayID) }
        write(V1.RegisterAgent.descriptor, V1.RegisterAgent.Input.self) { .registerAgent($0.agent.agentID, onRelay: $0.relayID) }
        write(V1.HeartbeatAgent.descriptor, V1.HeartbeatAgent.Input.self) {
            .heartbeatAgent($0.agentID, relayID: nonEmpty($0.relayID))
        }
        write(Fleet.SyncRelay.descriptor, Fleet.SyncRelay.Input.self) { .syncRelay($0.relayID) }
        write(Admin.DeregisterRelay.descriptor, Admin.DeregisterRelay.Input.self) { .deregisterRelay($0.relayID) }
        write(Admin.DeregisterAgent.descriptor, Admin.DeregisterAgent.Input.self) {
            .deregisterAgent($0.agentID, relayID: nonEmpty($0.relayID))
        }
        write(Admin.DrainRelay.descriptor, Admin.DrainRelay.Input.self) { .drainRelay($0.relayID) }
        write(Admin.UndrainRelay.descriptor, Admin.UndrainRelay.Input.self) { .undrainRelay($0.relayID) }
        return rules
    }()

    /// Services every method of which is open: health and both reflection versions.
    static let serviceRules: [String: MethodRule] = [
        Grpc_Health_V1_Health.descriptor.fullyQualifiedService: .open,
        Grpc_Reflection_V1_ServerReflection.descriptor.fullyQualifiedService: .open,
        Grpc_Reflection_V1alpha_ServerReflection.descriptor.fullyQualifiedService: .open,
    ]
}

private func nonEmpty(_ id: String) -> String? {
    id.isEmpty ? nil : id
}
