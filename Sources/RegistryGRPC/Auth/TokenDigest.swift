import Crypto

/// The SHA-256 digest of a bearer token: the only form in which a token is ever stored.
///
/// Equality is constant-time (every byte is compared, whatever the first difference), so
/// comparing a presented token's digest with a policy entry reveals nothing through timing.
/// The description shows only the first 8 hex characters (`sha256:1a2b3c4d…`), which is
/// enough to tell tokens apart in logs and useless for recovering one.
public struct TokenDigest: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes of the digest.
    public let bytes: [UInt8]

    /// The number of bytes in a SHA-256 digest.
    public static let byteCount = 32

    /// The digest of `token` (its UTF-8 bytes).
    public init(of token: String) {
        self.bytes = Array(SHA256.hash(data: Array(token.utf8)))
    }

    /// A digest written as 64 hex characters (either case); nil for anything else.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex), bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// The digest as 64 lowercase hex characters.
    public var hex: String {
        Hex.encode(self.bytes)
    }

    /// `sha256:` and the first 8 hex characters, safe for logs.
    public var description: String {
        "sha256:\(self.hex.prefix(8))…"
    }

    /// Constant-time: compares every byte.
    public static func == (lhs: TokenDigest, rhs: TokenDigest) -> Bool {
        Self.constantTimeEquals(lhs.bytes, rhs.bytes)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.bytes)
    }

    /// Whether `lhs` and `rhs` hold the same bytes, in time that depends only on their
    /// lengths: every byte pair is combined, with no exit at the first difference. Lengths
    /// are not secret (a digest is always 32 bytes).
    public static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }
}

/// Hex encoding and decoding of bytes.
enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex, two characters a byte.
    static func encode(_ bytes: [UInt8]) -> String {
        var characters: [UInt8] = []
        characters.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            characters.append(Self.digits[Int(byte >> 4)])
            characters.append(Self.digits[Int(byte & 0x0f)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// The bytes of an even-length hex string (either case); nil if it is not one.
    static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = Self.value(of: characters[index]), let low = Self.value(of: characters[index + 1]) else {
                return nil
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(of character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
