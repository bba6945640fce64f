import Foundation
import RegistryCore
import Synchronization

/// Enforces ``CapacityLimits`` on entries created in Consul.
///
/// Counting every stored key on every creation would cost a full key listing per
/// registration, so creations are admitted in two ways:
/// - **Far from the limit** (fast path): after an exact count of `c` stored keys, this
///   replica admits up to `(limit - c) / 8` creations without asking Consul again, for at
///   most two seconds. Creations by other replicas in that window are not seen, so this
///   is approximate: only allowances used at once across replicas can overshoot the limit.
/// - **Near the limit** (slow path, and always when fewer than eight places are left): the
///   stored keys are counted with `?keys` (and, when that reaches the limit, the live
///   entries with a recursive read, so expired entries make room), and the creating txn
///   includes a `cas` on a guard key (`<prefix>guard/<kind>`) at the index read *before*
///   counting: a counted creation committed after that read changed the guard and makes
///   this one fail and count again; one committed before it is in the count. So near the
///   limit it is exact.
final class ConsulCapacityGuard: Sendable {
    private struct Estimate {
        var counted: Int
        var countedAt: ContinuousClock.Instant
        var granted: Int
    }

    let limits: CapacityLimits
    /// How long a count is trusted for fast-path admissions.
    let freshness: Duration = .seconds(2)
    private let estimates = Mutex<[ConsulKeySchema.Kind: Estimate]>([:])

    init(limits: CapacityLimits) {
        self.limits = limits
    }

    func limit(_ kind: ConsulKeySchema.Kind) -> Int {
        switch kind {
        case .relay: self.limits.maxRelays
        case .agent: self.limits.maxAgents
        }
    }

    /// Forgets the counts (tests use this to force the slow path).
    func reset() {
        self.estimates.withLock { $0 = [:] }
    }

    /// Admits the creation of one `kind` entry.
    /// - Returns: operations the creating transaction must include (a guard `cas`, or none).
    /// - Throws: `resourceExhausted` when the limit is reached by live entries.
    func admit<BackendClock: WallClock>(
        _ kind: ConsulKeySchema.Kind,
        creating name: String,
        backend: ConsulBackend<BackendClock>,
        now: Int64
    ) async throws -> [ConsulTxnOperation] {
        let admission = try await self.admit(kind, count: 1, backend: backend, now: now)
        guard admission.admitted == 1 else {
            throw RegistryError.resourceExhausted("\(kind.rawValue) limit of \(self.limit(kind)) reached; \(name) was not registered")
        }
        return admission.operations
    }

    /// How many of a batch of creations may go ahead, and what their transaction must include.
    struct Admission: Sendable {
        /// The first `admitted` creations of the batch may be made; the rest would exceed the limit.
        var admitted: Int
        /// Operations the transaction creating them must include (a guard `cas`, or none).
        var operations: [ConsulTxnOperation]
    }

    /// Admits the fast-path creation of `count` entries without asking Consul, or nothing.
    /// - Returns: whether all `count` were admitted; when false, ``admit(_:count:backend:now:)``
    ///   must count before creating them.
    func admitWithoutCounting(_ kind: ConsulKeySchema.Kind, count: Int) -> Bool {
        let limit = self.limit(kind)
        return self.estimates.withLock { estimates in
            guard var estimate = estimates[kind], ContinuousClock.now - estimate.countedAt < self.freshness,
                estimate.granted + count <= (limit - estimate.counted) / 8
            else { return false }
            estimate.granted += count
            estimates[kind] = estimate
            return true
        }
    }

    /// Admits up to `count` creations of `kind` entries that one transaction makes together
    /// (a sync's chunk of new agents): all of them on the fast path, else as many as the
    /// live count leaves room for, with the guard `cas` that keeps the count exact.
    func admit<BackendClock: WallClock>(
        _ kind: ConsulKeySchema.Kind,
        count requested: Int,
        backend: ConsulBackend<BackendClock>,
        now: Int64
    ) async throws -> Admission {
        if requested == 0 || self.admitWithoutCounting(kind, count: requested) {
            return Admission(admitted: requested, operations: [])
        }
        let limit = self.limit(kind)
        // The guard first, then the count: a creation committed after the guard was read
        // changes the guard and fails ours; one committed before it is in the count.
        let guardKey = backend.keys.guardKey(kind)
        let guardEntry = try await backend.client.get(guardKey)
        var count = try await backend.client.keys(prefix: backend.keys.folder(kind)).count
        if count + requested > limit {
            let contents = try await backend.readAll()
            switch kind {
            case .relay:
                count = contents.relays.values.count { $0.isLive(at: now) }
            case .agent:
                count = contents.agents.count { $0.isLive(at: now, relay: contents.relays[$0.relayID]) }
            }
        }
        let admitted = max(0, min(requested, limit - count))
        guard admitted > 0 else { return Admission(admitted: 0, operations: []) }
        self.estimates.withLock { $0[kind] = Estimate(counted: count + admitted, countedAt: .now, granted: 0) }
        let generation = guardEntry?.valueBytes.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
        // A different value each time: Consul leaves ModifyIndex alone when a write changes nothing.
        let operation = ConsulTxnOperation.cas(guardKey, index: guardEntry?.modifyIndex ?? 0, value: Data(String(generation &+ 1).utf8))
        return Admission(admitted: admitted, operations: [operation])
    }
}
