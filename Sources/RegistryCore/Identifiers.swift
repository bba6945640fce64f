/// The identity of a relay, as relays report it.
///
/// Any string of 1 to 256 UTF-8 bytes without control characters is a valid ID.
/// IDs are compared, hashed and ordered by their exact UTF-8 bytes, so two IDs
/// that Swift's `String` would consider canonically equivalent (say "é" as one
/// scalar and as "e" plus a combining accent) are two different relays.
public struct RelayID: RegistryIdentifier {
    public let rawValue: String

    public init(validating rawValue: String, field: String = "relay_id") throws(RegistryError) {
        self.rawValue = try Self.validated(rawValue, field: field)
    }
}

/// The identity of an agent (one aircraft's companion computer).
///
/// The same rules as ``RelayID`` apply.
public struct AgentID: RegistryIdentifier {
    public let rawValue: String

    public init(validating rawValue: String, field: String = "agent_id") throws(RegistryError) {
        self.rawValue = try Self.validated(rawValue, field: field)
    }
}

/// What relay and agent IDs share: validation, and byte-exact equality, hashing and ordering.
public protocol RegistryIdentifier: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The ID exactly as the client sent it.
    var rawValue: String { get }

    /// Validates `rawValue`, naming `field` in the error when it is not a valid ID.
    init(validating rawValue: String, field: String) throws(RegistryError)
}

/// The longest ID accepted, in UTF-8 bytes.
public let maximumIdentifierBytes = 256

extension RegistryIdentifier {
    /// Returns `rawValue`, stored contiguously, if it is a valid ID.
    static func validated(_ rawValue: String, field: String) throws(RegistryError) -> String {
        let byteCount = rawValue.utf8.count
        if byteCount == 0 {
            throw .invalidArgument("\(field) must not be empty")
        }
        if byteCount > maximumIdentifierBytes {
            throw .invalidArgument(
                "\(field) is \(byteCount) bytes long; the limit is \(maximumIdentifierBytes) bytes"
            )
        }
        if let scalar = rawValue.unicodeScalars.first(where: \.isControlCharacter) {
            throw .invalidArgument("\(field) must not contain control characters (found \(scalar.codePointDescription))")
        }
        var contiguous = rawValue
        contiguous.makeContiguousUTF8()
        return contiguous
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.rawValue.utf8.elementsEqual(rhs.rawValue.utf8)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        let hashed: Void? = self.rawValue.utf8.withContiguousStorageIfAvailable { bytes in
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        }
        if hashed == nil {
            Array(self.rawValue.utf8).withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    public var description: String { self.rawValue }
}

extension Unicode.Scalar {
    /// Whether this is a C0 or C1 control character (Unicode general category Cc).
    var isControlCharacter: Bool {
        self.properties.generalCategory == .control
    }

    /// "U+0007" style.
    var codePointDescription: String {
        let hex = String(self.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
