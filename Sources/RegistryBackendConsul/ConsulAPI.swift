import Foundation

// The parts of Consul's HTTP API v1 the backend speaks, as Codable values.
//
// KV (`/v1/kv/<key>`):
// - `GET` answers a JSON array of entries (`?recurse`: every key under the prefix), or 404
//   when nothing matches; `?keys` answers an array of key names instead. Entries carry
//   `Key`, `Value` (base64, or null), `Flags`, `Session`, `LockIndex`, `CreateIndex` (the
//   Raft index that created the key; a key deleted and written again gets a new one) and
//   `ModifyIndex` (the index of its last change). `X-Consul-Index` is the highest index
//   relevant to the read.
// - `PUT` stores the body as the value and answers `true`/`false`; `?cas=<index>` writes only
//   if the key's ModifyIndex is that index (0: only if the key does not exist). Writing a
//   value identical to the stored one changes nothing, not even ModifyIndex.
// - `DELETE` answers `true`/`false`; `?cas=<index>` deletes only at that ModifyIndex.
//
// Transactions (`PUT /v1/txn`): a JSON array of at most 64 operations (128 on recent
// versions) `{"KV": {"Verb", "Key", "Value", "Index"}}`, applied in order and all or
// nothing. 200 with `Results` when applied; 409 with `Errors` (`OpIndex`, `What`, one per
// failing operation) when rolled back. Verbs used here: `cas` (Index 0: create), `get-or-empty`
// (Consul 1.14+), `check-index`, `delete-cas`. A transaction of reads only is served like
// a read and takes the consistency modes.
//
// Consistency modes for reads: default (the leader answers), `?consistent` (the leader first
// confirms it still leads), `?stale` (any server). Every request may name `?dc=`, and carries
// the ACL token in `X-Consul-Token`. Failures: 403 (ACL), 429 (rate limit), 5xx (no leader,
// no path to datacenter, ...).

/// One KV entry as `GET /v1/kv` and `/v1/txn` return it.
struct ConsulKVEntry: Decodable, Sendable {
    var key: String
    /// The base64 value, or nil.
    var value: String?
    var createIndex: UInt64
    var modifyIndex: UInt64

    enum CodingKeys: String, CodingKey {
        case key = "Key"
        case value = "Value"
        case createIndex = "CreateIndex"
        case modifyIndex = "ModifyIndex"
    }

    /// The decoded value bytes, or nil when there is none or it is not base64.
    var valueBytes: Data? {
        self.value.flatMap { Data(base64Encoded: $0) }
    }

    /// `get-or-empty` answers a missing key with an entry whose indexes are zero.
    var exists: Bool {
        self.createIndex != 0
    }
}

/// One operation of a `/v1/txn` request.
struct ConsulTxnOperation: Encodable, Sendable {
    enum Verb: String, Sendable {
        case cas
        case getOrEmpty = "get-or-empty"
        case checkIndex = "check-index"
        case deleteCAS = "delete-cas"
    }

    var verb: Verb
    var key: String
    var value: Data?
    var index: UInt64?

    static func cas(_ key: String, index: UInt64, value: Data) -> Self {
        Self(verb: .cas, key: key, value: value, index: index)
    }

    static func getOrEmpty(_ key: String) -> Self {
        Self(verb: .getOrEmpty, key: key)
    }

    static func checkIndex(_ key: String, index: UInt64) -> Self {
        Self(verb: .checkIndex, key: key, index: index)
    }

    static func deleteCAS(_ key: String, index: UInt64) -> Self {
        Self(verb: .deleteCAS, key: key, index: index)
    }

    private enum OuterKeys: String, CodingKey {
        case kv = "KV"
    }

    private enum CodingKeys: String, CodingKey {
        case verb = "Verb"
        case key = "Key"
        case value = "Value"
        case index = "Index"
    }

    func encode(to encoder: any Encoder) throws {
        var outer = encoder.container(keyedBy: OuterKeys.self)
        var kv = outer.nestedContainer(keyedBy: CodingKeys.self, forKey: .kv)
        try kv.encode(self.verb.rawValue, forKey: .verb)
        try kv.encode(self.key, forKey: .key)
        try kv.encodeIfPresent(self.value?.base64EncodedString(), forKey: .value)
        try kv.encodeIfPresent(self.index, forKey: .index)
    }
}

/// The body of a `/v1/txn` answer (200 or 409).
struct ConsulTxnResponse: Decodable, Sendable {
    struct Result: Decodable, Sendable {
        var kv: ConsulKVEntry?

        enum CodingKeys: String, CodingKey {
            case kv = "KV"
        }
    }

    struct Failure: Decodable, Sendable, CustomStringConvertible {
        var opIndex: Int
        var what: String

        enum CodingKeys: String, CodingKey {
            case opIndex = "OpIndex"
            case what = "What"
        }

        var description: String { "operation \(self.opIndex): \(self.what)" }

        /// Whether the operation failed because another writer changed a key first: a stale
        /// index on `cas`/`delete-cas`, a failed `check-index`, or a key that appeared or went.
        var isLostRace: Bool {
            ["index is stale", "failed index check", "doesn't exist", "\" exists"].contains { self.what.contains($0) }
        }
    }

    var results: [Result]?
    var errors: [Failure]?

    enum CodingKeys: String, CodingKey {
        case results = "Results"
        case errors = "Errors"
    }
}

/// What a transaction did.
enum ConsulTxnOutcome: Sendable {
    /// Applied; the KV results in operation order (deletes and checks that return nothing
    /// are absent, as in Consul's answer).
    case applied([ConsulKVEntry])
    /// Rolled back because these operations failed (a check or cas lost a race).
    case rolledBack([ConsulTxnResponse.Failure])
}
