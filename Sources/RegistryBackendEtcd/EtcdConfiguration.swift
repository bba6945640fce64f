public import RegistryCore

/// How the etcd backend reaches etcd and lays out its keys.
public struct EtcdConfiguration: Sendable, Equatable {
    /// The default key prefix: every key the backend writes starts with it.
    public static let defaultKeyPrefix = "/aero-arc-registry/v1/"
    /// The default bound on each backend operation, every retry and failover included.
    public static let defaultTimeout: Duration = .seconds(2)
    /// How long a lease outlives the deadline it backs, by default.
    public static let defaultLeaseGrace: Duration = .seconds(1)

    /// The members to talk to, tried in order; the backend fails over between them.
    public var endpoints: [EtcdEndpoint]
    /// A user name and password for etcd's authentication, when it is enabled.
    public var credentials: Credentials?
    /// TLS settings; nil for plaintext.
    public var tls: TLS?
    /// The bound on each backend operation; past it the operation fails as unavailable.
    public var timeout: Duration
    /// Prepended to every key.
    public var keyPrefix: String
    /// How long each lease outlives the deadline it backs. Deadlines, not leases, decide
    /// liveness; leases only garbage-collect entries nobody renews, so this is slack for
    /// clock skew between registry replicas and etcd. Tests on a manual clock, whose time
    /// does not pass with real time, set it long.
    public var leaseGrace: Duration
    /// The most an outage of etcd extends the deadlines of entries live when it began
    /// (docs/degraded-operation.md); zero turns outage grace off. Leases also last this
    /// much longer, so that etcd does not remove an entry grace could still save.
    public var outageGraceMax: Duration

    public init(
        endpoints: [EtcdEndpoint],
        credentials: Credentials? = nil,
        tls: TLS? = nil,
        timeout: Duration = Self.defaultTimeout,
        keyPrefix: String = Self.defaultKeyPrefix,
        leaseGrace: Duration = Self.defaultLeaseGrace,
        outageGraceMax: Duration = .zero
    ) {
        self.endpoints = endpoints
        self.credentials = credentials
        self.tls = tls
        self.timeout = timeout
        self.keyPrefix = keyPrefix
        self.leaseGrace = leaseGrace
        self.outageGraceMax = max(outageGraceMax, .zero)
    }

    /// etcd user credentials.
    public struct Credentials: Sendable, Equatable {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    /// PEM files for TLS to etcd.
    public struct TLS: Sendable, Equatable {
        /// The CA bundle that signs etcd's server certificates; nil trusts the system's roots.
        public var caPath: String?
        /// A client certificate chain, for etcd's client certificate authentication.
        public var certificatePath: String?
        /// The client certificate's private key.
        public var keyPath: String?

        public init(caPath: String? = nil, certificatePath: String? = nil, keyPath: String? = nil) {
            self.caPath = caPath
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }
    }

    /// The endpoints as one would type them, for messages.
    var endpointsDescription: String {
        self.endpoints.map(\.description).joined(separator: ",")
    }
}

/// One etcd member's client address.
public struct EtcdEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A host name or IP address.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[ipv6]:port`, or either with an `http://` or `https://` scheme
    /// (a trailing `/` is allowed). The port defaults to etcd's 2379.
    /// - Returns: the endpoint and whether its scheme asked for TLS (nil without a scheme).
    public static func parse(_ text: String) throws(RegistryError) -> (endpoint: EtcdEndpoint, tls: Bool?) {
        var rest = Substring(text)
        var tls: Bool?
        if rest.hasPrefix("http://") {
            rest = rest.dropFirst("http://".count)
            tls = false
        } else if rest.hasPrefix("https://") {
            rest = rest.dropFirst("https://".count)
            tls = true
        } else if rest.contains("://") {
            throw .invalidArgument("etcd endpoint '\(text)' has an unknown scheme; use http://, https:// or host:port")
        }
        if rest.hasSuffix("/") {
            rest = rest.dropLast()
        }
        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw .invalidArgument("etcd endpoint '\(text)' has an unclosed '[' around its IPv6 address")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw .invalidArgument("etcd endpoint '\(text)' must be [address]:port")
                }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
            if host.contains(":") {
                throw .invalidArgument("etcd endpoint '\(text)': write IPv6 addresses in brackets, as [::1]:2379")
            }
        } else {
            host = rest
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw .invalidArgument("etcd endpoint '\(text)' has no valid host")
        }
        var port = 2379
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw .invalidArgument("etcd endpoint '\(text)' has an invalid port '\(portText)': expected 1 to 65535")
            }
            port = parsed
        }
        return (EtcdEndpoint(host: String(host), port: port), tls)
    }

    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}
