public import NIOCore

/// One RESP2 reply from a Redis server.
///
/// Strings are kept as the bytes the server sent (Redis strings are binary-safe);
/// ``string`` reads them as UTF-8.
public enum RESPValue: Hashable, Sendable {
    /// `+OK`: a short status line.
    case simpleString(ByteBuffer)
    /// `-ERR ...`: a command failed; the server keeps the connection open.
    case error(ByteBuffer)
    /// `:42`.
    case integer(Int64)
    /// `$3 foo`: a binary-safe string.
    case bulkString(ByteBuffer)
    /// `$-1` or `*-1`: no value.
    case null
    /// `*2 ...`: nested values.
    case array([RESPValue])
}

extension RESPValue {
    /// The value of a simple or bulk string, read as UTF-8; nil for other values.
    public var string: String? {
        switch self {
        case .simpleString(let bytes), .bulkString(let bytes):
            String(buffer: bytes)
        default:
            nil
        }
    }

    /// The integer, or a simple or bulk string holding a decimal integer; nil otherwise.
    public var int64: Int64? {
        switch self {
        case .integer(let value):
            value
        case .simpleString(let bytes), .bulkString(let bytes):
            Int64(String(buffer: bytes))
        default:
            nil
        }
    }

    /// The elements of an array; nil for other values.
    public var array: [RESPValue]? {
        if case .array(let elements) = self {
            return elements
        }
        return nil
    }

    /// The message of an error reply; nil for other values.
    public var errorMessage: String? {
        if case .error(let bytes) = self {
            return String(buffer: bytes)
        }
        return nil
    }
}

extension RESPValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .simpleString(let bytes): "+\(String(buffer: bytes))"
        case .error(let bytes): "-\(String(buffer: bytes))"
        case .integer(let value): ":\(value)"
        case .bulkString(let bytes): "$\(String(reflecting: String(buffer: bytes)))"
        case .null: "(null)"
        case .array(let elements): "[\(elements.map(\.description).joined(separator: ", "))]"
        }
    }
}

extension RESPValue {
    /// A bulk string holding `text` as UTF-8.
    public static func bulkString(_ text: String) -> Self {
        .bulkString(ByteBuffer(string: text))
    }

    /// A simple string.
    public static func simpleString(_ text: String) -> Self {
        .simpleString(ByteBuffer(string: text))
    }

    /// An error reply.
    public static func error(_ text: String) -> Self {
        .error(ByteBuffer(string: text))
    }
}
