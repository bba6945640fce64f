/// What a credential may do.
///
/// - `reader`: every read (lists, placements, relay statuses, the admin status, health and
///   reflection).
/// - `relay`: reads, plus the writes of the relays it owns (its ``Grant/relayIDs``).
/// - `admin`: everything, including draining relays and methods the policy does not know.
public enum Role: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case reader
    case relay
    case admin

    public var description: String { self.rawValue }
}

/// A relay ID a relay credential owns: one ID exactly, or every ID with a prefix
/// (written `relay-eu-*` in the policy file).
public enum RelayIDPattern: Sendable, Hashable, CustomStringConvertible {
    case exact(String)
    case prefix(String)

    /// `text` as written in the policy file: a trailing `*` makes a prefix pattern.
    public init(_ text: String) {
        if text.hasSuffix("*") {
            self = .prefix(String(text.dropLast()))
        } else {
            self = .exact(text)
        }
    }

    /// Whether `relayID` is one this pattern owns.
    public func matches(_ relayID: String) -> Bool {
        switch self {
        case .exact(let id): relayID == id
        case .prefix(let prefix): relayID.hasPrefix(prefix)
        }
    }

    /// The pattern as written in the policy file.
    public var description: String {
        switch self {
        case .exact(let id): id
        case .prefix(let prefix): prefix + "*"
        }
    }
}

/// What one credential is granted: a role and, for the relay role, the relays it owns.
public struct Grant: Sendable, Hashable, CustomStringConvertible {
    public var role: Role
    /// The relays a `relay` credential may write for; empty for the other roles.
    public var relayIDs: [RelayIDPattern]

    public init(role: Role, relayIDs: [RelayIDPattern] = []) {
        self.role = role
        self.relayIDs = relayIDs
    }

    /// Whether this grant owns `relayID` (never an empty ID).
    public func owns(_ relayID: String) -> Bool {
        !relayID.isEmpty && self.relayIDs.contains { $0.matches(relayID) }
    }

    /// `reader`, `admin`, or `relay (relay-1, relay-eu-*)`.
    public var description: String {
        guard self.role == .relay else { return self.role.rawValue }
        return "relay (\(self.relayIDs.map(\.description).joined(separator: ", ")))"
    }
}

/// Who may call what: bearer-token digests and client-certificate identities, each mapped
/// to a ``Grant``. A pure value: ``decide(_:for:)`` does no I/O.
///
/// Tokens are held only as SHA-256 digests and looked up by comparing the presented
/// token's digest with every entry in constant time. An empty policy grants nothing (health
/// and reflection stay open unless the interceptor protects them).
public struct AccessPolicy: Sendable, Hashable {
    /// Token digests and what each is granted.
    public var tokens: [TokenDigest: Grant]
    /// Client-certificate identities (first SAN URI, else first SAN DNS name, else subject
    /// CN) and what each is granted.
    public var certificates: [String: Grant]

    public init(tokens: [TokenDigest: Grant] = [:], certificates: [String: Grant] = [:]) {
        self.tokens = tokens
        self.certificates = certificates
    }

    /// The policy that grants nothing.
    public static let empty = AccessPolicy()

    /// A resolved, recognised caller.
    public struct Caller: Sendable, Hashable, CustomStringConvertible {
        /// Who the caller is, safe for logs: `token sha256:1a2b3c4d…` or
        /// `certificate spiffe://aero-arc/relay/relay-7`. Never the token itself.
        public var description: String
        /// What the caller is granted.
        public var grant: Grant

        public init(description: String, grant: Grant) {
            self.description = description
            self.grant = grant
        }

        /// The caller of the RPC being handled, bound by ``AuthorizationInterceptor`` around
        /// the handler (and a streaming response's producer), so that handlers can log who
        /// did an admin operation. Nil outside an authorized call, and for health and
        /// reflection calls the interceptor lets through without a credential.
        @TaskLocal public static var current: Caller?
    }

    /// What the presented credentials amount to under this policy.
    public enum CallerResolution: Sendable, Hashable {
        /// No credential was presented.
        case anonymous
        /// A credential the policy recognises.
        case caller(Caller)
        /// A credential that is refused whatever the call (malformed or unknown token, or a
        /// certificate identity the policy does not list).
        case rejected(AccessDecision)
    }

    /// Resolves `credentials`: a presented token alone decides (a certificate is then not
    /// looked at); otherwise the certificate identity, if any.
    public func resolve(_ credentials: CallerCredentials) -> CallerResolution {
        switch credentials.authorization {
        case .malformed:
            return .rejected(.unauthenticated("malformed authorization metadata: expected \"Bearer <token>\""))
        case .bearer(let digest):
            // Every entry is compared, in constant time, whether or not one already matched.
            var match: Grant?
            for (entry, grant) in self.tokens where entry == digest {
                match = grant
            }
            guard let match else {
                return .rejected(.unauthenticated("the bearer token is not recognised"))
            }
            return .caller(Caller(description: "token \(digest)", grant: match))
        case .absent:
            guard let identity = credentials.certificateIdentity else { return .anonymous }
            guard let grant = self.certificates[identity] else {
                return .rejected(.permissionDenied("certificate identity \(displayedID(identity)) is not in the access policy"))
            }
            return .caller(Caller(description: "certificate \(identity)", grant: grant))
        }
    }

    /// Whether `caller` (nil: no credential) may do `action`.
    public func decide(_ action: RegistryAction, for caller: Caller?) -> AccessDecision {
        guard let caller else {
            return .unauthenticated("no credential: send \"authorization: Bearer <token>\" metadata or a client certificate")
        }
        let grant = caller.grant
        switch (grant.role, action) {
        case (.admin, _), (_, .read):
            return .allow
        case (.reader, .drainRelay), (.reader, .undrainRelay), (.reader, .unknown):
            return .permissionDenied("role \(grant) may not \(action) (admin only)")
        case (.reader, _):
            return .permissionDenied("role \(grant) may not \(action) (reader is read-only)")
        case (.relay, .registerRelay(let relayID)), (.relay, .heartbeatRelay(let relayID)),
            (.relay, .syncRelay(let relayID)), (.relay, .deregisterRelay(let relayID)),
            (.relay, .registerAgent(_, let relayID)), (.relay, .heartbeatAgent(_, .some(let relayID))),
            (.relay, .deregisterAgent(_, .some(let relayID))):
            return grant.owns(relayID) ? .allow : .permissionDenied("role \(grant) may not \(action)")
        case (.relay, .heartbeatAgent(_, .none)), (.relay, .deregisterAgent(_, .none)):
            return .permissionDenied("role \(grant) may not \(action): a relay credential must name its own relay in relay_id")
        case (.relay, .drainRelay), (.relay, .undrainRelay), (.relay, .unknown):
            return .permissionDenied("role \(grant) may not \(action) (admin only)")
        }
    }

    /// Resolves `credentials` and decides `action` for the caller: the whole check of a call.
    public func authorize(_ action: RegistryAction, credentials: CallerCredentials) -> (caller: Caller?, decision: AccessDecision) {
        switch self.resolve(credentials) {
        case .rejected(let decision): (nil, decision)
        case .anonymous: (nil, self.decide(action, for: nil))
        case .caller(let caller): (caller, self.decide(action, for: caller))
        }
    }
}

/// What a call wants to do, with the IDs its request names.
///
/// Optional relay IDs are nil when the request leaves `relay_id` empty.
public enum RegistryAction: Sendable, Hashable, CustomStringConvertible {
    /// Any read: lists, placements, relay statuses, the admin status, health, reflection.
    case read
    case registerRelay(String)
    case heartbeatRelay(String)
    case syncRelay(String)
    /// Registering an agent onto a relay.
    case registerAgent(String, onRelay: String)
    case heartbeatAgent(String, relayID: String?)
    case deregisterRelay(String)
    case deregisterAgent(String, relayID: String?)
    case drainRelay(String)
    case undrainRelay(String)
    /// A method the policy has no rule for (its fully qualified name): admin only.
    case unknown(String)

    /// The relay ID the request names, if any.
    public var relayID: String? {
        switch self {
        case .read, .unknown: nil
        case .registerRelay(let id), .heartbeatRelay(let id), .syncRelay(let id), .deregisterRelay(let id),
            .drainRelay(let id), .undrainRelay(let id):
            id
        case .registerAgent(_, let relayID): relayID
        case .heartbeatAgent(_, let relayID), .deregisterAgent(_, let relayID): relayID
        }
    }

    /// The agent ID the request names, if any.
    public var agentID: String? {
        switch self {
        case .registerAgent(let id, _), .heartbeatAgent(let id, _), .deregisterAgent(let id, _): id
        default: nil
        }
    }

    /// What the call does, as it reads after "may not": `register relay relay-2`.
    public var description: String {
        switch self {
        case .read: "read"
        case .registerRelay(let id): "register relay \(displayedID(id))"
        case .heartbeatRelay(let id): "heartbeat relay \(displayedID(id))"
        case .syncRelay(let id): "sync relay \(displayedID(id))"
        case .registerAgent(let agent, let relay): "register agent \(displayedID(agent)) on relay \(displayedID(relay))"
        case .heartbeatAgent(let agent, let relay?): "heartbeat agent \(displayedID(agent)) on relay \(displayedID(relay))"
        case .heartbeatAgent(let agent, nil): "heartbeat agent \(displayedID(agent)) without a relay_id"
        case .deregisterRelay(let id): "deregister relay \(displayedID(id))"
        case .deregisterAgent(let agent, let relay?): "deregister agent \(displayedID(agent)) on relay \(displayedID(relay))"
        case .deregisterAgent(let agent, nil): "deregister agent \(displayedID(agent)) without a relay_id"
        case .drainRelay(let id): "drain relay \(displayedID(id))"
        case .undrainRelay(let id): "undrain relay \(displayedID(id))"
        case .unknown(let method): "call \(displayedID(method))"
        }
    }
}

/// The outcome of an access check.
public enum AccessDecision: Sendable, Hashable {
    case allow
    /// No usable credential (status UNAUTHENTICATED), with a message for the caller.
    case unauthenticated(String)
    /// A known caller not allowed this call (status PERMISSION_DENIED), with a message
    /// naming the role and what it may not do.
    case permissionDenied(String)

    public var isAllowed: Bool { self == .allow }
}

/// An ID from a request, as it appears in a message: `""` when empty, cut at 128 characters.
func displayedID(_ id: String) -> String {
    if id.isEmpty { return "\"\"" }
    return id.count > 128 ? id.prefix(128) + "…" : id
}
