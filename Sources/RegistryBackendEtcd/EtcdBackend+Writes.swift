import Logging
import SwiftProtobuf
import EtcdProtos

/// Leases for one operation: which ones turned out gone, and a fresh one not used yet.
struct LeaseSupply {
    var lost: Set<Int64> = []
    var spare: Int64?
}

/// The lease a write attaches its key to.
struct LeaseChoice {
    var id: Int64
    /// Granted for this write: already full length, no keep-alive needed.
    var isFresh: Bool
}

extension EtcdBackend {
    /// The key's current lease when it still exists, else a fresh one.
    func lease(
        reusing existing: Int64?,
        seconds: Int64,
        supply: inout LeaseSupply,
        by deadline: ContinuousClock.Instant
    ) async throws -> LeaseChoice {
        if let existing, existing != 0, !supply.lost.contains(existing) {
            return LeaseChoice(id: existing, isFresh: false)
        }
        if let spare = supply.spare {
            return LeaseChoice(id: spare, isFresh: true)
        }
        let granted = try await self.client.grantLease(seconds: seconds, by: deadline)
        supply.spare = granted
        return LeaseChoice(id: granted, isFresh: true)
    }

    /// The outcome of a guarded write.
    enum WriteOutcome {
        /// Every compare held and the write was applied.
        case applied(Etcdserverpb_TxnResponse)
        /// A compare failed; the failure operations' results are in the response.
        case refused(Etcdserverpb_TxnResponse)
        /// The lease was gone: it is now in `supply.lost`; choose another and write again.
        case leaseLost
    }

    /// Puts `value` at `key` on `lease` if every compare holds, renewing an existing lease
    /// alongside (the two calls run concurrently: one round trip of latency).
    func guardedPut(
        _ key: [UInt8],
        _ value: [UInt8],
        lease: LeaseChoice,
        compares: [Etcdserverpb_Compare],
        otherwise failureOperations: [Etcdserverpb_RequestOp] = [],
        supply: inout LeaseSupply,
        by deadline: ContinuousClock.Instant
    ) async throws -> WriteOutcome {
        let request = Etcdserverpb_TxnRequest.with {
            $0.compare = compares
            $0.success = [EtcdOperation.put(key, value, lease: lease.id)]
            $0.failure = failureOperations
        }
        let client = self.client
        async let renewal: Bool = lease.isFresh ? true : client.keepAlive(lease: lease.id, by: deadline)
        let response: Etcdserverpb_TxnResponse
        do {
            response = try await client.txn(request, by: deadline)
        } catch EtcdClientError.leaseNotFound {
            _ = try? await renewal
            supply.lost.insert(lease.id)
            return .leaseLost
        }
        guard response.succeeded else {
            _ = try? await renewal
            return .refused(response)
        }
        if lease.isFresh {
            supply.spare = nil
        }
        guard try await renewal else {
            // The lease ran out around the write: the key goes with it. Write it again on another.
            supply.lost.insert(lease.id)
            return .leaseLost
        }
        return .applied(response)
    }

    /// Reads several keys in one linearizable round trip, at one revision.
    func read(_ keys: [[UInt8]], by deadline: ContinuousClock.Instant) async throws -> (values: [Mvccpb_KeyValue?], revision: Int64) {
        let response = try await self.client.txn(
            .with { $0.success = keys.map(EtcdOperation.get) },
            by: deadline
        )
        return (keys.indices.map { response.rangeResult($0).first }, response.header.revision)
    }

    /// Reads one key, at `revision` when given (falling back to the newest when that revision
    /// is no longer, or not yet, available on the member that answers).
    func read(_ key: [UInt8], at revision: Int64 = 0, by deadline: ContinuousClock.Instant) async throws -> Mvccpb_KeyValue? {
        do {
            return try await self.client.range(.key(key, revision: revision), by: deadline).kvs.first
        } catch EtcdClientError.revisionUnavailable where revision != 0 {
            return try await self.client.range(.key(key), by: deadline).kvs.first
        }
    }
}
