import Foundation

/// The KV state of ``ConsulDouble`` and Consul's documented semantics over it, without I/O.
///
/// Modelled from Consul's HTTP API documentation (`/v1/kv`, `/v1/txn`):
/// - Every write request is one Raft log entry and takes the next index, whether or not a
///   check fails; entries it changes get that index as `ModifyIndex`, and a created entry
///   also as `CreateIndex`. A key deleted and written again is a new entry (new
///   `CreateIndex`).
/// - A set whose value and flags equal the stored ones changes nothing, not even
///   `ModifyIndex`.
/// - `cas` on a write: index 0 writes only a missing key; another index writes only if it
///   equals the key's `ModifyIndex` (a missing key fails). `delete-cas` deletes only at the
///   key's `ModifyIndex`; a missing key counts as deleted.
/// - A transaction applies its operations in order in one write, sees its own earlier
///   operations, and is all or nothing: every failing operation is reported by its index,
///   and nothing is applied.
/// - Deleted keys leave tombstones, so a recursive read's index never goes backwards.
///
/// And from `/v1/session` and the KV lock parameters:
/// - A session has a TTL (10s to 24h) and a behaviour; renewing it restarts its TTL. It is
///   invalidated when destroyed or when its TTL passes without renewal — here at exactly the
///   TTL, the earliest Consul may (Consul may be up to twice as late).
/// - `?acquire=<session>` writes the key and locks it for a valid session: `LockIndex` goes
///   up by one when the lock changes hands, not when the holder writes again; a key held by
///   another session, or in its lock delay, is not acquired. `?release=` unlocks a key the
///   session holds. Plain writes keep a key's lock.
/// - Invalidating a session deletes the keys it holds (`Behavior=delete`) or unlocks them
///   (`release`), and starts their lock delay.
public struct ConsulDoubleStore: Sendable {
    /// One stored key.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: [UInt8]?
        public var flags: UInt64
        public var createIndex: UInt64
        public var modifyIndex: UInt64
        public var lockIndex: UInt64 = 0
        /// The session holding the lock on this key, if any.
        public var session: String?
    }

    /// A session.
    public struct Session: Sendable, Equatable {
        public var id: String
        public var name: String
        /// Milliseconds, or nil for a session without TTL.
        public var ttl: Int64?
        public var deleteOnInvalidation: Bool
        public var lockDelay: Int64
        /// Registry-clock milliseconds at which the session is invalidated, when it has a TTL.
        public var expiresAt: Int64?
        public var createIndex: UInt64
        public var modifyIndex: UInt64
    }

    /// One operation of a transaction (KV verbs only).
    public struct Operation: Sendable {
        public var verb: String
        public var key: String
        public var value: [UInt8]?
        public var flags: UInt64
        public var index: UInt64

        public init(verb: String, key: String, value: [UInt8]? = nil, flags: UInt64 = 0, index: UInt64 = 0) {
            self.verb = verb
            self.key = key
            self.value = value
            self.flags = flags
            self.index = index
        }

        /// Verbs that change the store.
        var isWrite: Bool {
            ["set", "cas", "delete", "delete-cas", "delete-tree", "lock", "unlock"].contains(self.verb)
        }
    }

    /// What a transaction did: the entries it returns, or the operations that failed.
    public enum TransactionOutcome: Sendable {
        /// Results in operation order; `includeValue` is false for entries returned by writes and checks.
        case applied([(entry: Entry, includeValue: Bool)])
        case rolledBack([(opIndex: Int, what: String)])
    }

    public internal(set) var entries: [String: Entry] = [:]
    /// Every key, sorted by bytes; rebuilt on the next listing after keys come or go.
    private var orderedKeys: [String] = []
    var keysChanged = false
    /// Key → index of the deletion that removed it.
    var tombstones: [String: UInt64] = [:]
    public internal(set) var sessions: [String: Session] = [:]
    /// Key → time until which no session may acquire it.
    var lockDelays: [String: Int64] = [:]
    /// The last Raft index handed out.
    public private(set) var lastIndex: UInt64 = 1
    /// The last index that changed the KV table.
    public internal(set) var kvIndex: UInt64 = 1

    public init() {}

    // MARK: Reads

    /// The entry at `key`, and the index to report (the KV table's).
    public func get(_ key: String) -> (index: UInt64, entry: Entry?) {
        (self.kvIndex, self.entries[key])
    }

    /// Entries under `prefix`, sorted by key bytes, and the highest index among them and
    /// the prefix's tombstones (or the table's, when both are absent). Mutating only to
    /// refresh the key order it keeps for large listings.
    public mutating func list(prefix: String) -> (index: UInt64, entries: [Entry]) {
        if self.keysChanged {
            self.orderedKeys = self.entries.keys.sorted(by: Self.bytesPrecede)
            self.keysChanged = false
        }
        // Binary search for the first key not below the prefix, then walk while it matches.
        var low = 0
        var high = self.orderedKeys.count
        while low < high {
            let middle = (low + high) / 2
            if Self.bytesPrecede(self.orderedKeys[middle], prefix) {
                low = middle + 1
            } else {
                high = middle
            }
        }
        var matching: [Entry] = []
        var index: UInt64 = 0
        for key in self.orderedKeys[low...] {
            guard Self.hasBytePrefix(key, prefix) else { break }
            guard let entry = self.entries[key] else { continue }
            matching.append(entry)
            index = max(index, entry.modifyIndex)
        }
        for (key, deleted) in self.tombstones where deleted > index && Self.hasBytePrefix(key, prefix) {
            index = deleted
        }
        return (index == 0 ? self.kvIndex : index, matching)
    }

    /// Byte order of UTF-8 keys, as Consul's radix tree orders them.
    static func bytesPrecede(_ lhs: String, _ rhs: String) -> Bool {
        var lhs = lhs
        var rhs = rhs
        return lhs.withUTF8 { left in
            rhs.withUTF8 { right in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
                return order < 0 || (order == 0 && left.count < right.count)
            }
        }
    }

    static func hasBytePrefix(_ text: String, _ prefix: String) -> Bool {
        var text = text
        var prefix = prefix
        return text.withUTF8 { whole in
            prefix.withUTF8 { start in
                start.count <= whole.count && (start.count == 0 || memcmp(whole.baseAddress!, start.baseAddress!, start.count) == 0)
            }
        }
    }

    /// Keys under `prefix`; with a separator, keys are cut after the first separator past
    /// the prefix and deduplicated (folders).
    public mutating func keys(prefix: String, separator: String?) -> (index: UInt64, keys: [String]) {
        let (index, entries) = self.list(prefix: prefix)
        var keys: [String] = []
        for entry in entries {
            var key = entry.key
            if let separator, !separator.isEmpty {
                let rest = entry.key.dropFirst(prefix.count)
                if let range = rest.range(of: separator) {
                    key = prefix + rest[..<range.upperBound]
                }
            }
            if keys.last != key {
                keys.append(key)
            }
        }
        return (index, keys)
    }

    // MARK: Writes

    /// `PUT /v1/kv/<key>[?cas=]`: whether it was written.
    public mutating func put(_ key: String, value: [UInt8], flags: UInt64 = 0, cas: UInt64?) -> Bool {
        let index = self.nextIndex()
        if let cas, !self.casAllows(key, cas) {
            return false
        }
        self.set(key, value: value, flags: flags, at: index)
        return true
    }

    /// `DELETE /v1/kv/<key>[?recurse][?cas=]`: whether it was deleted.
    public mutating func delete(_ key: String, recurse: Bool, cas: UInt64?) -> Bool {
        let index = self.nextIndex()
        if recurse {
            for stored in Array(self.entries.keys) where Self.hasBytePrefix(stored, key) {
                self.remove(stored, at: index)
            }
            return true
        }
        if let cas, let entry = self.entries[key], entry.modifyIndex != cas {
            // Deletes only at the key's ModifyIndex (so never with cas=0); a missing key counts as deleted.
            return false
        }
        self.remove(key, at: index)
        return true
    }

    /// `PUT /v1/txn` with writes: all operations in one write, or none.
    public mutating func transaction(_ operations: [Operation]) -> TransactionOutcome {
        let index = self.nextIndex()
        let saved = (self.entries, self.tombstones, self.kvIndex, self.keysChanged)
        let outcome = self.apply(operations, at: index)
        if case .rolledBack = outcome {
            (self.entries, self.tombstones, self.kvIndex, self.keysChanged) = saved
            self.keysChanged = true
        }
        return outcome
    }

    /// `PUT /v1/txn` with reads only: no index is consumed and nothing changes.
    public func readTransaction(_ operations: [Operation]) -> TransactionOutcome {
        var copy = self
        return copy.apply(operations, at: self.lastIndex)
    }

    /// Stores entries directly, as if each had been written by its own request (tests
    /// use it to build large registries quickly).
    public mutating func seed(_ values: [(key: String, value: [UInt8])]) {
        for (key, value) in values {
            self.set(key, value: value, flags: 0, at: self.nextIndex())
        }
    }

    // MARK: Internals

    mutating func nextIndex() -> UInt64 {
        self.lastIndex += 1
        return self.lastIndex
    }

    private func casAllows(_ key: String, _ cas: UInt64) -> Bool {
        guard let existing = self.entries[key] else { return cas == 0 }
        return cas != 0 && existing.modifyIndex == cas
    }

    @discardableResult
    private mutating func set(_ key: String, value: [UInt8]?, flags: UInt64, at index: UInt64) -> Entry {
        if let existing = self.entries[key] {
            if existing.value == value && existing.flags == flags {
                return existing  // unchanged: not even ModifyIndex moves
            }
            var updated = existing
            updated.value = value
            updated.flags = flags
            updated.modifyIndex = index
            self.entries[key] = updated
            self.kvIndex = index
            return updated
        }
        let entry = Entry(key: key, value: value, flags: flags, createIndex: index, modifyIndex: index)
        self.entries[key] = entry
        self.keysChanged = true
        self.tombstones[key] = nil
        self.kvIndex = index
        return entry
    }

    mutating func remove(_ key: String, at index: UInt64) {
        guard self.entries.removeValue(forKey: key) != nil else { return }
        self.keysChanged = true
        self.tombstones[key] = index
        self.kvIndex = index
    }

    private mutating func apply(_ operations: [Operation], at index: UInt64) -> TransactionOutcome {
        var results: [(entry: Entry, includeValue: Bool)] = []
        var failures: [(opIndex: Int, what: String)] = []
        for (position, operation) in operations.enumerated() {
            let key = operation.key
            switch operation.verb {
            case "set":
                results.append((self.set(key, value: operation.value, flags: operation.flags, at: index), false))
            case "cas":
                if self.casAllows(key, operation.index) {
                    results.append((self.set(key, value: operation.value, flags: operation.flags, at: index), false))
                } else {
                    failures.append((position, "failed to set key \"\(key)\", index is stale"))
                }
            case "get":
                if let entry = self.entries[key] {
                    results.append((entry, true))
                } else {
                    failures.append((position, "key \"\(key)\" doesn't exist"))
                }
            case "get-or-empty":
                results.append((self.entries[key] ?? Entry(key: key, value: nil, flags: 0, createIndex: 0, modifyIndex: 0), true))
            case "get-tree":
                results += self.list(prefix: key).entries.map { ($0, true) }
            case "check-index":
                if let entry = self.entries[key], entry.modifyIndex == operation.index {
                    results.append((entry, false))
                } else if self.entries[key] == nil {
                    failures.append((position, "failed to check index, key \"\(key)\" doesn't exist"))
                } else {
                    failures.append((
                        position,
                        "failed index check for key \"\(key)\", current modify index \(self.entries[key]?.modifyIndex ?? 0) != \(operation.index)"
                    ))
                }
            case "check-not-exists":
                if self.entries[key] != nil {
                    failures.append((position, "key \"\(key)\" exists"))
                }
            case "delete":
                self.remove(key, at: index)
            case "delete-tree":
                for stored in Array(self.entries.keys) where Self.hasBytePrefix(stored, key) {
                    self.remove(stored, at: index)
                }
            case "delete-cas":
                if let entry = self.entries[key] {
                    if entry.modifyIndex == operation.index {
                        self.remove(key, at: index)
                    } else {
                        failures.append((position, "failed to delete key \"\(key)\", index is stale"))
                    }
                }
            default:
                failures.append((position, "unknown KV verb \"\(operation.verb)\""))
            }
        }
        return failures.isEmpty ? .applied(results) : .rolledBack(failures)
    }
}
