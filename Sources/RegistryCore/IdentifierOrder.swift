/// The first 16 UTF-8 bytes of an ID as two big-endian integers, zero-padded.
///
/// Comparing keys orders IDs exactly as comparing their bytes does wherever two keys
/// differ: IDs never hold a NUL byte (it is a control character), so the zero padding
/// sorts a shorter ID before every ID it is a prefix of. Only IDs that share their first
/// 16 bytes need the full comparison, which makes sorting a fleet-sized list a pass over
/// integers instead of millions of string comparisons (docs/performance.md).
struct IdentifierSortKey: Comparable {
    let high: UInt64
    let low: UInt64

    init(_ string: String) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var index = 0
        for byte in string.utf8.prefix(16) {
            if index < 8 {
                high |= UInt64(byte) << (56 - 8 * index)
            } else {
                low |= UInt64(byte) << (56 - 8 * (index - 8))
            }
            index += 1
        }
        self.high = high
        self.low = low
    }

    static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
    }
}

/// Sorting by ID, in the byte order of ``RegistryIdentifier``: what every list response
/// does before it is returned. Reached through `Array.sortByIdentifier(_:)`.
@usableFromInline
enum IdentifierOrder {
    /// The indices of `ids` in ascending byte order of the IDs. Not generic, so it is
    /// compiled once, specialized, here; comparisons are on integer keys, with the bytes
    /// compared (``UTF8Bytes/less(_:_:)``) only where the first 16 are equal.
    @usableFromInline
    static func sortedIndices(of ids: [String]) -> [Int] {
        var keyed = ids.indices.map { (key: IdentifierSortKey(ids[$0]), index: $0) }
        keyed.sort { lhs, rhs in
            lhs.key != rhs.key ? lhs.key < rhs.key : UTF8Bytes.less(ids[lhs.index], ids[rhs.index])
        }
        return keyed.map(\.index)
    }
}

extension Array {
    /// Sorts the elements by an ID, in the byte order of ``RegistryIdentifier``.
    @inlinable
    public mutating func sortByIdentifier<ID: RegistryIdentifier>(_ id: (Element) -> ID) {
        guard self.count > 1 else { return }
        let order = IdentifierOrder.sortedIndices(of: self.map { id($0).rawValue })
        self = order.map { self[$0] }
    }
}
