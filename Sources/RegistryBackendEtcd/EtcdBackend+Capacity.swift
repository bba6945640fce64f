import Logging
import SwiftProtobuf
import EtcdProtos
public import RegistryCore

/// Capacity limits and reclaiming expired entries.
///
/// A new entry needs room: the backend counts the keys stored under the kind's prefix (a
/// count-only range, cheap). Stored keys bound live ones from above. At the limit it
/// reads every entry, reclaims the expired ones (guarded deletes, so a renewed entry
/// stays) and counts again, so expired entries never hold a place. Near the limit (within
/// ``creationGuardMargin``), the creating transaction also requires that no entry of that
/// kind was created since the count, so concurrent creations cannot overshoot: one wins
/// and the others count again.
/// Further from the limit, more than that many creations racing each other could exceed
/// it by the excess; they are unguarded because the guard costs etcd a scan of the
/// whole prefix.
extension EtcdBackend {
    /// Nil when there is room without a guard, else the compare the creating write needs.
    /// - Throws: `resourceExhausted` when the relay limit is reached.
    func roomForRelay(_ id: RelayID, now: Int64, by deadline: ContinuousClock.Instant) async throws -> Etcdserverpb_Compare? {
        try await self.room(
            under: self.keys.relayPrefix,
            limit: self.limits.maxRelays,
            full: RegistryError.resourceExhausted("relay limit of \(self.limits.maxRelays) reached; relay \(id) was not registered"),
            by: deadline
        ) {
            let relays = try await self.scanRelays(now: now)
            _ = try await self.reclaim(relays.expired)
        }
    }

    /// Nil when there is room without a guard, else the compare the creating write needs.
    /// - Throws: `resourceExhausted` when the agent limit is reached.
    func roomForAgent(_ id: AgentID, now: Int64, by deadline: ContinuousClock.Instant) async throws -> Etcdserverpb_Compare? {
        try await self.room(
            under: self.keys.agentPrefix,
            limit: self.limits.maxAgents,
            full: RegistryError.resourceExhausted("agent limit of \(self.limits.maxAgents) reached; agent \(id) was not registered"),
            by: deadline
        ) {
            let (_, agents) = try await self.scanAll(now: now)
            _ = try await self.reclaim(agents.expired)
        }
    }

    /// Stored keys bound live entries from above; the limit applies to stored keys, after
    /// reclaiming expired ones when it is reached (as the memory backend does).
    private func room(
        under prefix: [UInt8],
        limit: Int,
        full: RegistryError,
        by deadline: ContinuousClock.Instant,
        reclaimExpired: () async throws -> Void
    ) async throws -> Etcdserverpb_Compare? {
        var counted = try await self.client.range(.prefix(prefix, countOnly: true), by: deadline)
        if Int(counted.count) < limit - Self.creationGuardMargin {
            return nil
        }
        if Int(counted.count) >= limit {
            try await reclaimExpired()
            counted = try await self.client.range(.prefix(prefix, countOnly: true), by: deadline)
            guard Int(counted.count) < limit else { throw full }
        }
        return EtcdCompare.noneCreated(in: prefix, after: counted.header.revision)
    }

    public func removeExpired(limit: Int) async throws -> ExpiryReport {
        guard limit > 0 else { return ExpiryReport() }
        let (relays, agents) = try await self.scanAll(now: self.now())
        let expiredRelays = Array(relays.expired.prefix(limit))
        let expiredAgents = Array(agents.expired.prefix(limit - expiredRelays.count))
        var report = ExpiryReport()
        report.relaysRemoved = try await self.reclaim(expiredRelays)
        report.agentsRemoved = try await self.reclaim(expiredAgents)
        return report
    }

    /// Deletes the given keys, each only if it was not written since it was read (so a
    /// renewed entry survives), in transactions of at most 64 keys (etcd allows 128
    /// operations per transaction by default), each with the whole timeout. Returns how
    /// many were deleted.
    func reclaim(_ kvs: [Mvccpb_KeyValue]) async throws -> Int {
        var deleted = 0
        var start = 0
        while start < kvs.count {
            let batch = kvs[start..<min(start + 64, kvs.count)]
            start += batch.count
            let deadline = self.client.operationDeadline()
            let response = try await self.client.txn(.guardedDeletes(batch), by: deadline)
            if response.succeeded {
                deleted += batch.count
                continue
            }
            // One of them changed: delete the others one by one.
            for kv in batch {
                if try await self.client.txn(.guardedDeletes([kv]), by: deadline).succeeded {
                    deleted += 1
                }
            }
        }
        if deleted > 0 {
            self.logger.debug("reclaimed expired entries from etcd", metadata: ["count": "\(deleted)"])
        }
        return deleted
    }
}

extension Etcdserverpb_TxnRequest {
    /// Deletes each key if it is unmodified since it was read.
    static func guardedDeletes(_ kvs: some Collection<Mvccpb_KeyValue>) -> Self {
        .with {
            $0.compare = kvs.map { EtcdCompare.unmodified(Array($0.key), since: $0.modRevision) }
            $0.success = kvs.map { EtcdOperation.delete(Array($0.key)) }
        }
    }
}
