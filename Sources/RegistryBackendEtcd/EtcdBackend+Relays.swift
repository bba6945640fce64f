import Logging
import SwiftProtobuf
import EtcdProtos
public import RegistryCore

extension EtcdBackend {
    public func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult {
        let upsert = try await self.upsertRelay(registration.id, endpoint: registration.endpoint, by: self.client.operationDeadline())
        return RelayRegistrationResult(relay: upsert.relay(registration.id), outcome: upsert.outcome)
    }

    public func heartbeatRelay(_ id: RelayID) async throws -> Relay {
        try await self.upsertRelay(id, endpoint: nil, by: self.client.operationDeadline()).relay(id)
    }

    /// What ``upsertRelay(_:endpoint:by:)`` wrote.
    struct RelayUpsert {
        var record: RelayRecord
        /// The create revision of the relay key.
        var incarnation: Int64
        /// The lease the relay key is on, alive for another relay lease.
        var lease: Int64
        var outcome: RelayRegistrationResult.Outcome

        func relay(_ id: RelayID) -> Relay {
            Relay(id: id, endpoint: self.record.endpoint, lastHeartbeat: UnixMilliseconds(self.record.lastHeartbeat))
        }
    }

    /// Renews a live relay (updating its endpoint when given) or, with an endpoint, creates
    /// it: a new incarnation when it was unknown or expired.
    ///
    /// The first attempt trusts what this backend last wrote for the relay, if it is live;
    /// the renewal's mod-revision compare checks it, and a stale hint reads afresh.
    /// - Throws: `notFound` without an endpoint when the relay is not live;
    ///   `resourceExhausted` when creating it would exceed the relay limit.
    func upsertRelay(_ id: RelayID, endpoint: RelayEndpoint?, by deadline: ContinuousClock.Instant) async throws -> RelayUpsert {
        let key = self.keys.key(of: id)
        var supply = LeaseSupply()
        // Set once this call removed an expired incarnation: the relay it creates is a new one.
        var replacedExpired = false
        var hint = self.recent.relay(id).flatMap { $0.createRevision > 0 ? $0 : nil }
        return try await self.retryingConflicts("registering relay \(id)") { () -> RelayUpsert? in
            let now = self.now()
            var live: StoredEntry<RelayRecord>?
            var expired: Mvccpb_KeyValue?
            if let remembered = hint, remembered.record.isLive(at: now) {
                live = remembered
            } else if let current = try await self.read(key, by: deadline) {
                if let stored = RelayRecord(decoding: current.value), stored.isLive(at: now) {
                    live = StoredEntry(record: stored, modRevision: current.modRevision, lease: current.lease, createRevision: current.createRevision)
                } else {
                    expired = current
                }
            }
            hint = nil

            if let live {
                // Live: renew it, with its endpoint updated and its agents kept.
                let record = RelayRecord(deadline: now + self.ttl.relayTTLMilliseconds, lastHeartbeat: now, endpoint: endpoint ?? live.record.endpoint)
                let lease = try await self.lease(reusing: live.lease, seconds: self.relayLeaseSeconds, supply: &supply, by: deadline)
                let outcome = try await self.guardedPut(
                    key, record.encoded(), lease: lease,
                    compares: [EtcdCompare.unmodified(key, since: live.modRevision)],
                    supply: &supply, by: deadline
                )
                guard case .applied(let response) = outcome else { return nil }
                self.recent.remember(id, StoredEntry(record: record, modRevision: response.header.revision, lease: lease.id, createRevision: live.createRevision))
                return RelayUpsert(record: record, incarnation: live.createRevision, lease: lease.id, outcome: .renewed)
            }
            guard let endpoint else {
                self.recent.remember(id, nil)
                throw RegistryError.notFound("relay \(id) is not registered or has expired; register it again")
            }
            if let expired {
                // Expired (or not a value this backend wrote): remove that incarnation, so the
                // key is created anew below with a new create revision, the new incarnation,
                // with its drain mark if it had one.
                let removal = try await self.client.txn(
                    .with {
                        $0.compare = [EtcdCompare.unmodified(key, since: expired.modRevision)]
                        $0.success = [EtcdOperation.delete(key), EtcdOperation.delete(self.keys.drainKey(of: id))]
                    },
                    by: deadline
                )
                guard removal.succeeded else { return nil }
                replacedExpired = true
            }

            let record = RelayRecord(deadline: now + self.ttl.relayTTLMilliseconds, lastHeartbeat: now, endpoint: endpoint)
            var compares = [EtcdCompare.absent(key)]
            if !replacedExpired {
                // Replacing an expired relay keeps the count; only a new relay needs room.
                if let guardCompare = try await self.roomForRelay(id, now: now, by: deadline) {
                    compares.append(guardCompare)
                }
            }
            let lease = try await self.lease(reusing: nil, seconds: self.relayLeaseSeconds, supply: &supply, by: deadline)
            let outcome = try await self.guardedPut(key, record.encoded(), lease: lease, compares: compares, supply: &supply, by: deadline)
            guard case .applied(let response) = outcome else { return nil }
            // Created by this transaction: its revision is the key's create revision.
            let incarnation = response.header.revision
            self.recent.remember(id, StoredEntry(record: record, modRevision: incarnation, lease: lease.id, createRevision: incarnation))
            return RelayUpsert(record: record, incarnation: incarnation, lease: lease.id, outcome: replacedExpired ? .recreated : .created)
        }
    }

    public func listRelays() async throws -> Snapshot<Relay> {
        let now = self.now()
        let relays = try await self.scanRelays(now: now)
        return Snapshot(
            entries: relays.live.map { Relay(id: $0.id, endpoint: $0.record.endpoint, lastHeartbeat: UnixMilliseconds($0.record.lastHeartbeat)) },
            asOf: UnixMilliseconds(now)
        )
    }
}
