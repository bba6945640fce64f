public import GRPCCore
public import GRPCNIOTransportHTTP2
public import RegistryCore

/// Where the registry is and how to reach it.
public struct ServerTarget: Sendable, CustomStringConvertible {
    /// The default: the registry on this machine at the Go registry's default port.
    public static let defaultTarget = "127.0.0.1:50051"

    public var host: String
    public var port: Int
    /// TLS settings, or nil for plaintext.
    public var tls: TLS?
    /// A bearer token sent with every call, for a registry with authentication on.
    public var token: String?

    /// Client-side TLS.
    public struct TLS: Sendable {
        /// PEM certificates to trust instead of the system's roots.
        public var caPath: String?
        /// A client certificate (PEM) and its key, for a registry that requires them
        /// (`--tls-client-ca-path`); both or neither.
        public var certificatePath: String?
        public var keyPath: String?

        public init(caPath: String? = nil, certificatePath: String? = nil, keyPath: String? = nil) {
            self.caPath = caPath
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }
    }

    /// Parses "host:port", "[ipv6]:port" or "host" (port 50051).
    public init(parsing text: String, tls: TLS? = nil, token: String? = nil) throws(RegistryError) {
        var host = Substring(text)
        var port = 50051
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let parsed = Int(rest.dropFirst()) else {
                    throw .invalidArgument("invalid server '\(text)': the port is not a number")
                }
                port = parsed
            } else if !rest.isEmpty {
                throw .invalidArgument("invalid server '\(text)': expected [address]:port")
            }
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            host = text[..<colon]
            guard let parsed = Int(text[text.index(after: colon)...]) else {
                throw .invalidArgument("invalid server '\(text)': the port is not a number")
            }
            port = parsed
        }
        guard !host.isEmpty else {
            throw .invalidArgument("invalid server '\(text)': no host")
        }
        guard (1...65535).contains(port) else {
            throw .invalidArgument("invalid server '\(text)': port must be between 1 and 65535")
        }
        self.host = String(host)
        self.port = port
        self.tls = tls
        self.token = token
    }

    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }

    /// A transport to this target.
    public func makeTransport() throws -> HTTP2ClientTransport.Posix {
        let security: HTTP2ClientTransport.Posix.TransportSecurity
        if let tls = self.tls {
            security = .tls { config in
                if let caPath = tls.caPath {
                    config.trustRoots = .certificates([.file(path: caPath, format: .pem)])
                }
                if let certificatePath = tls.certificatePath, let keyPath = tls.keyPath {
                    config.certificateChain = [.file(path: certificatePath, format: .pem)]
                    config.privateKey = .file(path: keyPath, format: .pem)
                }
            }
        } else {
            security = .plaintext
        }
        // IP literals get an IP target: TLS must not send them as SNI host names.
        let target: any ResolvableTarget =
            if self.host.contains(":") {
                .ipv6(address: self.host, port: self.port)
            } else if self.host.split(separator: ".").count == 4, self.host.allSatisfy({ $0.isNumber || $0 == "." }) {
                .ipv4(address: self.host, port: self.port)
            } else {
                .dns(host: self.host, port: self.port)
            }
        return try HTTP2ClientTransport.Posix(target: target, transportSecurity: security)
    }
}

/// Runs `body` with a client connected to `target`, and closes it afterwards.
public func withRegistryClient<Result: Sendable>(
    target: ServerTarget,
    timeout: Duration? = .seconds(10),
    _ body: (RegistryClient) async throws -> Result
) async throws -> Result {
    let interceptors: [any ClientInterceptor] = target.token.map { [BearerTokenInterceptor(token: $0)] } ?? []
    return try await withGRPCClient(transport: try target.makeTransport(), interceptors: interceptors) { client in
        try await body(RegistryClient(wrapping: client, timeout: timeout))
    }
}
