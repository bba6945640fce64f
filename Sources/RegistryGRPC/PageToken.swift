import RegistryCore

/// The opaque page tokens of the fleet API's lists.
///
/// A token is the last ID of the page it follows (keyset paging: the next page starts
/// after it), bound to the listing and filter it came from, versioned, and encoded as
/// unpadded base64url so it is safe in any transport. Layout of the decoded bytes:
/// `[version = 1][listing][filter length, 2 bytes big-endian][filter][cursor]`.
/// Nothing secret is in it; it only has to be rejected clearly when malformed or reused
/// with another filter.
struct PageToken: Equatable {
    enum Listing: UInt8 {
        case placements = 1
        case relayStatuses = 2
    }

    static let version: UInt8 = 1

    var listing: Listing
    /// The filter the listing was made with ("" for none).
    var filter: String
    /// The last ID of the previous page.
    var cursor: String

    var encoded: String {
        var bytes: [UInt8] = [Self.version, self.listing.rawValue]
        let filter = Array(self.filter.utf8)
        bytes += [UInt8(filter.count >> 8 & 0xff), UInt8(filter.count & 0xff)]
        bytes += filter
        bytes += Array(self.cursor.utf8)
        return Base64URL.encode(bytes)
    }

    /// Decodes `token` for `listing` with `filter`.
    /// - Throws: `invalidArgument` naming the field when the token is malformed, from
    ///   another listing, or from the same listing with another filter.
    static func decode(_ token: String, listing: Listing, filter: String, field: String = "page_token") throws(RegistryError) -> String {
        let malformed = RegistryError.invalidArgument("\(field) is not a token this listing issued")
        guard let bytes = Base64URL.decode(token), bytes.count >= 4, bytes[0] == Self.version, bytes[1] == listing.rawValue else {
            throw malformed
        }
        let filterLength = Int(bytes[2]) << 8 | Int(bytes[3])
        guard bytes.count > 4 + filterLength,
              let tokenFilter = String(validating: bytes[4..<(4 + filterLength)], as: UTF8.self),
              let cursor = String(validating: bytes[(4 + filterLength)...], as: UTF8.self)
        else {
            throw malformed
        }
        guard tokenFilter == filter else {
            throw .invalidArgument("\(field) belongs to a listing with another relay_id filter; start again without a token")
        }
        return cursor
    }
}

/// Unpadded base64url (RFC 4648 §5), for page tokens.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let remaining = bytes.count - index
            let b0 = UInt32(bytes[index])
            let b1 = remaining > 1 ? UInt32(bytes[index + 1]) : 0
            let b2 = remaining > 2 ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            output.append(self.alphabet[Int(triple >> 18 & 63)])
            output.append(self.alphabet[Int(triple >> 12 & 63)])
            if remaining > 1 { output.append(self.alphabet[Int(triple >> 6 & 63)]) }
            if remaining > 2 { output.append(self.alphabet[Int(triple & 63)]) }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt32] = []
        for byte in text.utf8 {
            guard let value = self.alphabet.firstIndex(of: byte) else { return nil }
            values.append(UInt32(value))
        }
        if values.count % 4 == 1 { return nil }
        var output: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var accumulator: UInt32 = 0
            for value in chunk { accumulator = accumulator << 6 | value }
            accumulator <<= 6 * UInt32(4 - chunk.count)
            let byteCount = chunk.count - 1
            for shift in [16, 8, 0].prefix(byteCount) {
                output.append(UInt8(accumulator >> UInt32(shift) & 0xff))
            }
            index += 4
        }
        return output
    }
}
