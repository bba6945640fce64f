/// Where a relay serves its agents: a host and a gRPC port.
public struct RelayEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// The longest address accepted, in UTF-8 bytes (a DNS name's limit).
    public static let maximumAddressBytes = 255

    /// A host name or IP address, without whitespace or control characters.
    public let address: String
    /// A TCP port in 1...65535.
    public let grpcPort: Int

    /// Validates both parts, naming `addressField` or `portField` in the error.
    public init(
        address: String,
        grpcPort: Int,
        addressField: String = "address",
        portField: String = "grpc_port"
    ) throws(RegistryError) {
        let byteCount = address.utf8.count
        if byteCount == 0 {
            throw .invalidArgument("\(addressField) must not be empty")
        }
        if byteCount > Self.maximumAddressBytes {
            throw .invalidArgument(
                "\(addressField) is \(byteCount) bytes long; the limit is \(Self.maximumAddressBytes) bytes"
            )
        }
        if let scalar = address.unicodeScalars.first(where: { $0.isControlCharacter || $0.properties.isWhitespace }) {
            throw .invalidArgument(
                "\(addressField) must not contain whitespace or control characters (found \(scalar.codePointDescription))"
            )
        }
        guard (1...65535).contains(grpcPort) else {
            throw .invalidArgument("\(portField) must be between 1 and 65535, not \(grpcPort)")
        }
        self.address = address
        self.grpcPort = grpcPort
    }

    public var description: String {
        self.address.contains(":") ? "[\(self.address)]:\(self.grpcPort)" : "\(self.address):\(self.grpcPort)"
    }
}

/// A live relay as the registry reports it.
public struct Relay: Hashable, Sendable {
    public var id: RelayID
    public var endpoint: RelayEndpoint
    /// Registry time of the last registration or heartbeat.
    public var lastHeartbeat: UnixMilliseconds

    public init(id: RelayID, endpoint: RelayEndpoint, lastHeartbeat: UnixMilliseconds) {
        self.id = id
        self.endpoint = endpoint
        self.lastHeartbeat = lastHeartbeat
    }
}

/// A relay's registration request: who it is and where it serves.
public struct RelayRegistration: Hashable, Sendable {
    public var id: RelayID
    public var endpoint: RelayEndpoint

    public init(id: RelayID, endpoint: RelayEndpoint) {
        self.id = id
        self.endpoint = endpoint
    }
}

/// What a relay registration did.
public struct RelayRegistrationResult: Hashable, Sendable {
    /// How the registration related to what was stored before.
    public enum Outcome: Hashable, Sendable {
        /// No relay with this ID was stored.
        case created
        /// The relay was live; it keeps its agents.
        case renewed
        /// A relay with this ID had expired; this is a new incarnation without its agents.
        case recreated
    }

    public var relay: Relay
    public var outcome: Outcome

    public init(relay: Relay, outcome: Outcome) {
        self.relay = relay
        self.outcome = outcome
    }
}
