import Logging
import SwiftProtobuf
import EtcdProtos
import Foundation

/// Typed builders for the compares and operations the backend puts in transactions.
enum EtcdCompare {
    /// The key's last modification is at `revision` (it was not written since it was read).
    static func unmodified(_ key: [UInt8], since revision: Int64) -> Etcdserverpb_Compare {
        .with {
            $0.key = Data(key)
            $0.target = .mod
            $0.result = .equal
            $0.modRevision = revision
        }
    }

    /// The key does not exist.
    static func absent(_ key: [UInt8]) -> Etcdserverpb_Compare {
        .with {
            $0.key = Data(key)
            $0.target = .create
            $0.result = .equal
            $0.createRevision = 0
        }
    }

    /// The key exists and was created at `revision` (the same incarnation).
    static func created(_ key: [UInt8], at revision: Int64) -> Etcdserverpb_Compare {
        .with {
            $0.key = Data(key)
            $0.target = .create
            $0.result = .equal
            $0.createRevision = revision
        }
    }

    /// The relay whose incarnation is `incarnation` (its key's create revision) is not
    /// draining: its drain key, `drainKey`, is absent or older than that incarnation (left by
    /// an earlier one). See ``EtcdDrain``.
    static func notDraining(_ drainKey: [UInt8], incarnation: Int64) -> Etcdserverpb_Compare {
        .with {
            $0.key = Data(drainKey)
            $0.target = .create
            $0.result = .less
            $0.createRevision = incarnation
        }
    }

    /// The key's stored deadline is after `now` (see ``DeadlineEncoding/liveAt(_:)``).
    static func live(_ key: [UInt8], at now: Int64) -> Etcdserverpb_Compare {
        .with {
            $0.key = Data(key)
            $0.target = .value
            $0.result = .greater
            $0.value = Data(DeadlineEncoding.liveAt(now))
        }
    }

    /// No key in `[prefix, end)` was created after `revision`.
    static func noneCreated(in prefix: [UInt8], after revision: Int64) -> Etcdserverpb_Compare {
        .with {
            $0.key = Data(prefix)
            $0.rangeEnd = Data(EtcdKeySchema.rangeEnd(ofPrefix: prefix))
            $0.target = .create
            $0.result = .less
            $0.createRevision = revision + 1
        }
    }
}

enum EtcdOperation {
    static func get(_ key: [UInt8]) -> Etcdserverpb_RequestOp {
        .with { $0.requestRange = .with { $0.key = Data(key) } }
    }

    /// Gets `key` as it was at `revision` (0: the newest).
    static func get(_ key: [UInt8], revision: Int64) -> Etcdserverpb_RequestOp {
        .with { $0.requestRange = .key(key, revision: revision) }
    }

    /// Runs `request` as one operation of a transaction.
    static func range(_ request: Etcdserverpb_RangeRequest) -> Etcdserverpb_RequestOp {
        .with { $0.requestRange = request }
    }

    static func put(_ key: [UInt8], _ value: [UInt8], lease: Int64) -> Etcdserverpb_RequestOp {
        .with {
            $0.requestPut = .with {
                $0.key = Data(key)
                $0.value = Data(value)
                $0.lease = lease
            }
        }
    }

    static func delete(_ key: [UInt8]) -> Etcdserverpb_RequestOp {
        .with { $0.requestDeleteRange = .with { $0.key = Data(key) } }
    }
}

extension Etcdserverpb_RangeRequest {
    /// Every key starting with `prefix`, in key order.
    static func prefix(_ prefix: [UInt8], from start: [UInt8]? = nil, limit: Int64 = 0, revision: Int64 = 0, countOnly: Bool = false) -> Self {
        .with {
            $0.key = Data(start ?? prefix)
            $0.rangeEnd = Data(EtcdKeySchema.rangeEnd(ofPrefix: prefix))
            $0.limit = limit
            $0.revision = revision
            $0.countOnly = countOnly
        }
    }

    static func key(_ key: [UInt8], revision: Int64 = 0) -> Self {
        .with {
            $0.key = Data(key)
            $0.revision = revision
        }
    }
}

extension Etcdserverpb_TxnResponse {
    /// The key-values of the range read at `index` among the operations that ran.
    func rangeResult(_ index: Int) -> [Mvccpb_KeyValue] {
        guard index < self.responses.count, case .responseRange(let range)? = self.responses[index].response else {
            return []
        }
        return range.kvs
    }
}
