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
