import HeapModule

/// Keys ordered by expiry deadline, so that finding what has expired costs
/// O(expired), not a scan of everything stored.
///
/// Keys live in buckets of ``granularity`` milliseconds of deadline. Renewing a key
/// moves it between buckets in O(1); a min-heap of bucket numbers finds the oldest
/// bucket. Only buckets that lie entirely in the past are drained, so every key
/// handed out by ``removeExpired(now:limit:)`` has certainly expired; a key may
/// stay here up to one granularity past its deadline (reads check exact deadlines,
/// so that only delays reclaiming memory).
struct ExpiryIndex<Key: Hashable> {
    /// Width of a bucket, in milliseconds.
    let granularity: Int64
    private var buckets: [Int64: Set<Key>] = [:]
    /// Bucket numbers, possibly stale (a bucket emptied by renewals is skipped when popped).
    private var order = Heap<Int64>()

    init(granularity: Int64 = 100) {
        precondition(granularity > 0, "granularity must be positive")
        self.granularity = granularity
    }

    private func bucket(of deadline: UnixMillisecondsValue) -> Int64 {
        // Floor division, correct for negative deadlines too.
        deadline >= 0 ? deadline / self.granularity : (deadline - self.granularity + 1) / self.granularity
    }

    /// Adds a key with the given deadline.
    mutating func insert(_ key: Key, deadline: UnixMillisecondsValue) {
        let bucket = self.bucket(of: deadline)
        if self.buckets[bucket, default: []].insert(key).inserted, self.buckets[bucket]?.count == 1 {
            self.order.insert(bucket)
        }
    }

    /// Forgets a key stored with the given deadline.
    mutating func remove(_ key: Key, deadline: UnixMillisecondsValue) {
        let bucket = self.bucket(of: deadline)
        guard var keys = self.buckets.removeValue(forKey: bucket) else { return }
        keys.remove(key)
        if !keys.isEmpty {
            self.buckets[bucket] = keys
        }
    }

    /// Moves a key from one deadline to another.
    mutating func update(_ key: Key, from old: UnixMillisecondsValue, to new: UnixMillisecondsValue) {
        guard self.bucket(of: old) != self.bucket(of: new) else { return }
        self.remove(key, deadline: old)
        self.insert(key, deadline: new)
    }

    /// Removes and returns a key whose deadline is certainly at or before `now`, oldest
    /// bucket first, or nil when there is none.
    mutating func popExpired(now: UnixMillisecondsValue) -> Key? {
        while let oldest = self.order.min, (oldest + 1) * self.granularity <= now {
            // Popped in place: copying the set out would copy it on every call.
            if let key = self.buckets[oldest]?.popFirst() {
                if self.buckets[oldest]?.isEmpty == true {
                    self.buckets[oldest] = nil
                    _ = self.order.removeMin()
                }
                return key
            }
            _ = self.order.removeMin()  // a bucket emptied by renewals
        }
        return nil
    }

    /// Removes and returns up to `limit` keys whose deadlines are certainly at or before `now`.
    mutating func removeExpired(now: UnixMillisecondsValue, limit: Int) -> [Key] {
        var expired: [Key] = []
        while expired.count < limit, let key = self.popExpired(now: now) {
            expired.append(key)
        }
        return expired
    }

    /// Keys stored.
    var count: Int {
        self.buckets.values.reduce(0) { $0 + $1.count }
    }
}

/// Milliseconds since the Unix epoch, as stored in records.
typealias UnixMillisecondsValue = Int64
