/// The identity of a relay, as relays report it.
///
/// Any string of 1 to 256 UTF-8 bytes without control characters is a valid ID.
/// IDs are compared, hashed and ordered by their exact UTF-8 bytes, so two IDs
/// that Swift's `String` would consider canonically equivalent (say "é" as one
/// scalar and as "e" plus a combining accent) are two different relays.
public struct RelayID: RegistryIdentifier {
    public let rawValue: String

    @inlinable public static func == (lhs: Self, rhs: Self) -> Bool { UTF8Bytes.equal(lhs.rawValue, rhs.rawValue) }
    @inlinable public static func < (lhs: Self, rhs: Self) -> Bool { UTF8Bytes.less(lhs.rawValue, rhs.rawValue) }
    @inlinable public func hash(into hasher: inout Hasher) { UTF8Bytes.hash(self.rawValue, into: &hasher) }

    public init(validating rawValue: String, field: String = "relay_id") throws(RegistryError) {
        self.rawValue = try Self.validated(rawValue, field: field)
    }
}

/// The identity of an agent (one aircraft's companion computer).
///
/// The same rules as ``RelayID`` apply.
public struct AgentID: RegistryIdentifier {
    public let rawValue: String

    @inlinable public static func == (lhs: Self, rhs: Self) -> Bool { UTF8Bytes.equal(lhs.rawValue, rhs.rawValue) }
    @inlinable public static func < (lhs: Self, rhs: Self) -> Bool { UTF8Bytes.less(lhs.rawValue, rhs.rawValue) }
    @inlinable public func hash(into hasher: inout Hasher) { UTF8Bytes.hash(self.rawValue, into: &hasher) }

    public init(validating rawValue: String, field: String = "agent_id") throws(RegistryError) {
        self.rawValue = try Self.validated(rawValue, field: field)
    }
}

/// What relay and agent IDs share: validation, and (implemented by each, via ``UTF8Bytes``)
/// byte-exact equality, hashing and ordering.
public protocol RegistryIdentifier: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The ID exactly as the client sent it.
    var rawValue: String { get }

    /// Validates `rawValue`, naming `field` in the error when it is not a valid ID.
    init(validating rawValue: String, field: String) throws(RegistryError)
}

/// Equality, order and hashing of strings by their exact UTF-8 bytes, where Swift's own
/// `String` operators would apply Unicode canonical equivalence. Concrete (not generic)
/// and contiguous-memory based, because every registry operation hashes and compares IDs.
@usableFromInline
enum UTF8Bytes {
    @inlinable
    static func equal(_ lhs: String, _ rhs: String) -> Bool {
        let result = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in
                left.count == right.count && left.elementsEqual(right)
            }
        }
        return (result ?? nil) ?? lhs.utf8.elementsEqual(rhs.utf8)
    }

    @inlinable
    static func less(_ lhs: String, _ rhs: String) -> Bool {
        let result = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in
                var index = 0
                let common = min(left.count, right.count)
                while index < common {
                    if left[index] != right[index] {
                        return left[index] < right[index]
                    }
                    index += 1
                }
                return left.count < right.count
            }
        }
        return (result ?? nil) ?? lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    @inlinable
    static func hash(_ string: String, into hasher: inout Hasher) {
        let hashed: Void? = string.utf8.withContiguousStorageIfAvailable { bytes in
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        }
        if hashed == nil {
            Array(string.utf8).withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
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
        if containsControlCharacter(rawValue.utf8), let scalar = rawValue.unicodeScalars.first(where: \.isControlCharacter) {
            throw .invalidArgument("\(field) must not contain control characters (found \(scalar.codePointDescription))")
        }
        var contiguous = rawValue
        contiguous.makeContiguousUTF8()
        return contiguous
    }

    public var description: String { self.rawValue }
}

/// Whether UTF-8 text holds a control character (Unicode category Cc), by looking at bytes:
/// C0 controls and DEL are single bytes below 0x20 or 0x7F; C1 controls (U+0080...U+009F)
/// are 0xC2 followed by 0x80...0x9F. On every request path, so it avoids scalar property lookups.
func containsControlCharacter(_ utf8: String.UTF8View) -> Bool {
    var previous: UInt8 = 0
    for byte in utf8 {
        if byte < 0x20 || byte == 0x7F || (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F) {
            return true
        }
        previous = byte
    }
    return false
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
