import RegistryCore

/// A set of IDs kept in ID order (UTF-8 bytes), for keyset paging without sorting.
///
/// Stored as a list of sorted chunks of at most ``chunkCapacity`` IDs: inserting or
/// removing costs a binary search over the chunks' last IDs, one inside a chunk, and a
/// move of at most a chunk's elements; reading a page after an ID costs the two searches
/// and the page. With 100,000 IDs that is about 400 chunks of 256. Written by hand
/// because swift-collections' `SortedSet` is still an unstable, trait-gated prototype.
struct SortedIDIndex<ID: RegistryIdentifier> {
    static var chunkCapacity: Int { 256 }

    private var chunks: [[ID]] = []
    private(set) var count = 0

    /// The index of the first chunk whose last ID is not less than `id`, or `chunks.count`.
    private func chunkIndex(for id: ID) -> Int {
        var low = 0
        var high = self.chunks.count
        while low < high {
            let middle = (low + high) / 2
            if let last = self.chunks[middle].last, last < id {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    /// The first position in `chunk` whose ID is greater than `id` (`orEqual`: not less).
    private static func position(in chunk: [ID], after id: ID, orEqual: Bool) -> Int {
        var low = 0
        var high = chunk.count
        while low < high {
            let middle = (low + high) / 2
            let before = orEqual ? chunk[middle] < id : !(id < chunk[middle])
            if before {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    mutating func insert(_ id: ID) {
        if self.chunks.isEmpty {
            self.chunks = [[id]]
            self.count = 1
            return
        }
        let chunk = min(self.chunkIndex(for: id), self.chunks.count - 1)
        let position = Self.position(in: self.chunks[chunk], after: id, orEqual: true)
        if position < self.chunks[chunk].count, self.chunks[chunk][position] == id {
            return
        }
        self.chunks[chunk].insert(id, at: position)
        self.count += 1
        if self.chunks[chunk].count > Self.chunkCapacity {
            let half = self.chunks[chunk].count / 2
            let upper = Array(self.chunks[chunk][half...])
            self.chunks[chunk].removeSubrange(half...)
            self.chunks.insert(upper, at: chunk + 1)
        }
    }

    mutating func remove(_ id: ID) {
        let chunk = self.chunkIndex(for: id)
        guard chunk < self.chunks.count else { return }
        let position = Self.position(in: self.chunks[chunk], after: id, orEqual: true)
        guard position < self.chunks[chunk].count, self.chunks[chunk][position] == id else { return }
        self.chunks[chunk].remove(at: position)
        self.count -= 1
        if self.chunks[chunk].isEmpty {
            self.chunks.remove(at: chunk)
        }
    }

    /// IDs greater than `after` (all when nil), in order, while `body` returns true.
    func forEach(after: ID?, _ body: (ID) -> Bool) {
        var chunk = 0
        var position = 0
        if let after {
            chunk = self.chunkIndex(for: after)
            guard chunk < self.chunks.count else { return }
            position = Self.position(in: self.chunks[chunk], after: after, orEqual: false)
        }
        while chunk < self.chunks.count {
            let ids = self.chunks[chunk]
            while position < ids.count {
                if !body(ids[position]) { return }
                position += 1
            }
            chunk += 1
            position = 0
        }
    }

    /// Every ID, in order (for tests).
    var elements: [ID] {
        self.chunks.flatMap { $0 }
    }
}
