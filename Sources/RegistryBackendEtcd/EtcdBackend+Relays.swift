import Logging
import SwiftProtobuf
import EtcdProtos
public import RegistryCore

extension EtcdBackend {
    public func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult {
        let deadline = self.client.operationDeadline()
        let id = registration.id
        let key = self.keys.key(of: id)
        var supply = LeaseSupply()
        // Set once this call removed an expired incarnation: the relay it creates is a new one.
        var replacedExpired = false
        return try await self.retryingConflicts("registering relay \(id)") { () -> RelayRegistrationResult? in
            let now = self.now()
            let record = RelayRecord(deadline: now + self.ttl.relayTTLMilliseconds, lastHeartbeat: now, endpoint: registration.endpoint)
            let relay = Relay(id: id, endpoint: registration.endpoint, lastHeartbeat: UnixMilliseconds(now))

            if let current = try await self.read(key, by: deadline) {
                if let stored = RelayRecord(decoding: current.value), stored.isLive(at: now) {
                    // Live: renew it, with its endpoint updated and its agents kept.
                    let lease = try await self.lease(reusing: current.lease, seconds: self.relayLeaseSeconds, supply: &supply, by: deadline)
                    let outcome = try await self.guardedPut(
                        key, record.encoded(), lease: lease,
                        compares: [EtcdCompare.unmodified(key, since: current.modRevision)],
                        supply: &supply, by: deadline
                    )
                    guard case .applied(let response) = outcome else { return nil }
                    self.recent.remember(id, StoredEntry(record: record, modRevision: response.header.revision, lease: lease.id))
                    return RelayRegistrationResult(relay: relay, outcome: .renewed)
                }
                // Expired (or not a value this backend wrote): remove that incarnation, so the
                // key is created anew below with a new create revision, the new incarnation.
                let removal = try await self.client.txn(
                    .with {
                        $0.compare = [EtcdCompare.unmodified(key, since: current.modRevision)]
                        $0.success = [EtcdOperation.delete(key)]
                    },
                    by: deadline
                )
                guard removal.succeeded else { return nil }
                replacedExpired = true
            }

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
            self.recent.remember(id, StoredEntry(record: record, modRevision: response.header.revision, lease: lease.id))
            return RelayRegistrationResult(relay: relay, outcome: replacedExpired ? .recreated : .created)
        }
    }

    public func heartbeatRelay(_ id: RelayID) async throws -> Relay {
        let deadline = self.client.operationDeadline()
        let key = self.keys.key(of: id)
        var supply = LeaseSupply()
        // The first attempt trusts what this backend last wrote; the transaction checks it.
        var hint = self.recent.relay(id)
        return try await self.retryingConflicts("renewing relay \(id)") { () -> Relay? in
            let now = self.now()
            let stored: StoredEntry<RelayRecord>
            if let remembered = hint, remembered.record.isLive(at: now) {
                stored = remembered
            } else {
                guard
                    let current = try await self.read(key, by: deadline),
                    let record = RelayRecord(decoding: current.value),
                    record.isLive(at: now)
                else {
                    self.recent.remember(id, nil)
                    throw RegistryError.notFound("relay \(id) is not registered or has expired; register it again")
                }
                stored = StoredEntry(record: record, modRevision: current.modRevision, lease: current.lease)
            }
            hint = nil
            var record = stored.record
            record.lastHeartbeat = now
            record.deadline = now + self.ttl.relayTTLMilliseconds
            let lease = try await self.lease(reusing: stored.lease, seconds: self.relayLeaseSeconds, supply: &supply, by: deadline)
            let outcome = try await self.guardedPut(
                key, record.encoded(), lease: lease,
                compares: [EtcdCompare.unmodified(key, since: stored.modRevision)],
                supply: &supply, by: deadline
            )
            guard case .applied(let response) = outcome else { return nil }
            self.recent.remember(id, StoredEntry(record: record, modRevision: response.header.revision, lease: lease.id))
            return Relay(id: id, endpoint: record.endpoint, lastHeartbeat: UnixMilliseconds(now))
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
