import Foundation
public import RegistryCore

/// Where and how the Consul backend reaches Consul, and where in Consul's KV store it keeps
/// the registry.
public struct ConsulConfiguration: Sendable, Equatable {
    /// The default HTTP API address of a local Consul agent.
    public static let defaultAddress = "http://127.0.0.1:8500"
    /// The default key prefix: every key the registry writes starts with it.
    public static let defaultKeyPrefix = "aero-arc-registry/v1/"
    /// The default timeout of one request to Consul.
    public static let defaultTimeout: Duration = .seconds(2)

    /// Consul's HTTP API.
    public var address: ConsulAddress
    /// The ACL token sent as `X-Consul-Token`, if any.
    public var token: String?
    /// The datacenter to use (`?dc=`); nil uses the datacenter of the agent addressed.
    public var datacenter: String?
    /// A PEM file of CA certificates to trust for an `https` address; nil trusts the system's roots.
    public var caPath: String?
    /// How long one request to Consul may take before it counts as failed.
    public var timeout: Duration
    /// Where the registry's keys live: ends with `/`, never starts with one.
    public private(set) var keyPrefix: String
    /// How often `run()` asks Consul for its leader to report health.
    public var healthProbeInterval: Duration = .seconds(1)
    /// The most time an outage of Consul gives back to each relay and agent that was live
    /// when it began (docs/degraded-operation.md); `.zero` turns outage grace off.
    public var outageGraceMax: Duration = .zero

    /// A local agent at ``defaultAddress``, no token, the default timeout and prefix.
    public static let `default` = ConsulConfiguration(
        address: .default, token: nil, datacenter: nil, caPath: nil, timeout: defaultTimeout, normalizedPrefix: defaultKeyPrefix
    )

    private init(address: ConsulAddress, token: String?, datacenter: String?, caPath: String?, timeout: Duration, normalizedPrefix: String) {
        self.address = address
        self.token = token
        self.datacenter = datacenter
        self.caPath = caPath
        self.timeout = timeout
        self.keyPrefix = normalizedPrefix
    }

    /// Validates the key prefix and timeout.
    /// - Throws: `invalidArgument` naming what is wrong.
    public init(
        address: ConsulAddress = ConsulAddress.default,
        token: String? = nil,
        datacenter: String? = nil,
        caPath: String? = nil,
        timeout: Duration = Self.defaultTimeout,
        keyPrefix: String = Self.defaultKeyPrefix
    ) throws(RegistryError) {
        guard timeout > .zero else {
            throw .invalidArgument("the Consul timeout must be positive, not \(timeout.goDescription)")
        }
        self.init(
            address: address, token: token, datacenter: datacenter, caPath: caPath, timeout: timeout,
            normalizedPrefix: try Self.normalizedPrefix(keyPrefix)
        )
    }

    /// A prefix that ends with `/`; rejects empty prefixes, a leading `/` and control characters.
    static func normalizedPrefix(_ raw: String) throws(RegistryError) -> String {
        if raw.isEmpty || raw == "/" {
            throw .invalidArgument("the Consul key prefix must not be empty: the registry would share the KV root")
        }
        if raw.hasPrefix("/") {
            throw .invalidArgument("the Consul key prefix '\(raw)' must not start with '/'")
        }
        if raw.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .invalidArgument("the Consul key prefix must not contain control characters")
        }
        return raw.hasSuffix("/") ? raw : raw + "/"
    }
}

/// The base URL of Consul's HTTP API: `http` or `https`, a host and a port.
public struct ConsulAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Scheme: String, Sendable, Hashable {
        case http, https
    }

    public let scheme: Scheme
    public let host: String
    public let port: Int

    /// `http://127.0.0.1:8500`.
    public static let `default` = ConsulAddress(scheme: .http, host: "127.0.0.1", port: 8500)

    public init(scheme: Scheme, host: String, port: Int) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// Parses `http://host:port`, `https://host:port` or `host:port` (as `CONSUL_HTTP_ADDR`
    /// accepts); the port defaults to 8500. IPv6 hosts go in brackets.
    /// - Throws: `invalidArgument` naming what is wrong.
    public init(parsing text: String) throws(RegistryError) {
        var rest = Substring(text)
        var scheme = Scheme.http
        if let range = rest.range(of: "://") {
            guard let parsed = Scheme(rawValue: rest[..<range.lowerBound].lowercased()) else {
                throw .invalidArgument("Consul address '\(text)' must use http or https")
            }
            scheme = parsed
            rest = rest[range.upperBound...]
        }
        if rest.hasSuffix("/") {
            rest = rest.dropLast()
        }
        if rest.contains("/") || rest.contains("?") || rest.contains("@") {
            throw .invalidArgument("Consul address '\(text)' must be scheme://host:port, without a path, query or user")
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw .invalidArgument("Consul address '\(text)' has an unclosed '[' around an IPv6 host")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw .invalidArgument("Consul address '\(text)' has text after the IPv6 host")
                }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        if host.isEmpty || host.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
            throw .invalidArgument("Consul address '\(text)' needs a host name or IP address")
        }
        var port = 8500
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw .invalidArgument("Consul address '\(text)' has an invalid port '\(portText)'")
            }
            port = parsed
        }
        self.init(scheme: scheme, host: String(host), port: port)
    }

    /// `http://127.0.0.1:8500`, with IPv6 hosts in brackets.
    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(self.scheme.rawValue)://\(host):\(self.port)"
    }
}
