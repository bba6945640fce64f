import Logging
import SwiftProtobuf
import EtcdProtos
public import RegistryCore

extension EtcdBackend {
    public func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult {
        let deadline = self.client.operationDeadline()
        let agentKey = self.keys.key(of: id)
        let relayKey = self.keys.key(of: relayID)
        let drainKey = self.keys.drainKey(of: relayID)
        var supply = LeaseSupply()
        return try await self.retryingConflicts("registering agent \(id)") { () -> AgentRegistrationResult? in
            let now = self.now()
            let (values, revision) = try await self.read([agentKey, relayKey, drainKey], by: deadline)
            guard
                let relayKV = values[1],
                let relay = RelayRecord(decoding: relayKV.value),
                relay.isLive(at: now)
            else {
                throw RegistryError.notFound("relay \(relayID) is not registered or has expired; agent \(id) was not registered")
            }
            // The relay must still be this incarnation when the write applies. Its deadline
            // only moves forward within an incarnation, so it is then still live too.
            var compares = [EtcdCompare.created(relayKey, at: relayKV.createRevision)]
            let current = values[0].flatMap { AgentRecord(decoding: $0.value) }
            let renewing = current.map { $0.relayID == relayID && $0.relayIncarnation == relayKV.createRevision && now < $0.deadline } ?? false
            if !renewing {
                // A placement: only on a relay that is not draining, still when the write applies.
                guard !EtcdDrain.isDraining(values[2], incarnation: relayKV.createRevision) else {
                    throw RegistryError.failedPrecondition("relay \(relayID) is draining and takes no new agents; agent \(id) was not placed on it")
                }
                compares.append(EtcdCompare.notDraining(drainKey, incarnation: relayKV.createRevision))
            }
            var previousRelayID: RelayID?
            if let agentKV = values[0] {
                compares.append(EtcdCompare.unmodified(agentKey, since: agentKV.modRevision))
                if let placed = AgentRecord(decoding: agentKV.value), placed.relayID != relayID, now < placed.deadline {
                    previousRelayID = try await self.liveRelay(placed, at: revision, now: now, by: deadline) ? placed.relayID : nil
                }
            } else {
                compares.append(EtcdCompare.absent(agentKey))
                if let guardCompare = try await self.roomForAgent(id, now: now, by: deadline) {
                    compares.append(guardCompare)
                }
            }
            let record = AgentRecord(
                deadline: now + self.ttl.agentTTLMilliseconds,
                lastHeartbeat: now,
                relayIncarnation: relayKV.createRevision,
                relayID: relayID
            )
            let lease = try await self.lease(reusing: values[0]?.lease, seconds: self.agentLeaseSeconds, supply: &supply, by: deadline)
            let outcome = try await self.guardedPut(agentKey, record.encoded(), lease: lease, compares: compares, supply: &supply, by: deadline)
            guard case .applied(let response) = outcome else { return nil }
            self.recent.remember(id, StoredEntry(record: record, modRevision: response.header.revision, lease: lease.id))
            let placement = AgentPlacement(agentID: id, relayID: relayID, lastUpdated: UnixMilliseconds(now))
            return AgentRegistrationResult(placement: placement, previousRelayID: previousRelayID)
        }
    }

    public func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement {
        let deadline = self.client.operationDeadline()
        let agentKey = self.keys.key(of: id)
        var supply = LeaseSupply()
        // The first attempt trusts what this backend last wrote; the transaction checks it.
        var hint = self.recent.agent(id)
        return try await self.retryingConflicts("renewing agent \(id)") { () -> AgentPlacement? in
            let now = self.now()
            let notLive = RegistryError.notFound("agent \(id) is not registered or has expired; register it again")
            let stored: StoredEntry<AgentRecord>
            if let remembered = hint, now < remembered.record.deadline,
                expectedRelayID == nil || expectedRelayID == remembered.record.relayID
            {
                stored = remembered
            } else {
                guard
                    let agentKV = try await self.read(agentKey, by: deadline),
                    let record = AgentRecord(decoding: agentKV.value),
                    now < record.deadline
                else {
                    self.recent.remember(id, nil)
                    throw notLive
                }
                if let expectedRelayID, expectedRelayID != record.relayID {
                    // Say where it is only if that placement is live.
                    guard try await self.liveRelay(record, at: 0, now: now, by: deadline) else { throw notLive }
                    throw RegistryError.notFound("agent \(id) is not placed on relay \(expectedRelayID); it is on relay \(record.relayID)")
                }
                stored = StoredEntry(record: record, modRevision: agentKV.modRevision, lease: agentKV.lease)
            }
            hint = nil
            var record = stored.record
            let relayKey = self.keys.key(of: record.relayID)
            record.lastHeartbeat = now
            record.deadline = now + self.ttl.agentTTLMilliseconds
            let lease = try await self.lease(reusing: stored.lease, seconds: self.agentLeaseSeconds, supply: &supply, by: deadline)
            let outcome = try await self.guardedPut(
                agentKey, record.encoded(), lease: lease,
                compares: [
                    EtcdCompare.unmodified(agentKey, since: stored.modRevision),
                    EtcdCompare.created(relayKey, at: record.relayIncarnation),
                    EtcdCompare.live(relayKey, at: now),
                ],
                otherwise: [EtcdOperation.get(agentKey)],
                supply: &supply, by: deadline
            )
            switch outcome {
            case .applied(let response):
                self.recent.remember(id, StoredEntry(record: record, modRevision: response.header.revision, lease: lease.id))
                return AgentPlacement(agentID: id, relayID: record.relayID, lastUpdated: UnixMilliseconds(now))
            case .refused(let response):
                // Written meanwhile: read again. Unchanged: its relay is what is not live.
                guard response.rangeResult(0).first?.modRevision == stored.modRevision else { return nil }
                self.recent.remember(id, nil)
                throw notLive
            case .leaseLost:
                return nil
            }
        }
    }

    public func listAgents() async throws -> Snapshot<Agent> {
        let now = self.now()
        let (_, agents) = try await self.scanAll(now: now)
        return Snapshot(entries: agents.live, asOf: UnixMilliseconds(now))
    }

    public func placement(of id: AgentID) async throws -> AgentPlacement {
        let now = self.now()
        let deadline = self.client.operationDeadline()
        let response = try await self.client.range(.key(self.keys.key(of: id)), by: deadline)
        guard
            let agentKV = response.kvs.first,
            let record = AgentRecord(decoding: agentKV.value),
            now < record.deadline,
            try await self.liveRelay(record, at: response.header.revision, now: now, by: deadline)
        else {
            throw RegistryError.notFound("agent \(id) is not registered or has expired")
        }
        return AgentPlacement(agentID: id, relayID: record.relayID, lastUpdated: UnixMilliseconds(record.lastHeartbeat))
    }

    /// Whether the relay incarnation `agent` was placed on is live, read at `revision`.
    func liveRelay(_ agent: AgentRecord, at revision: Int64, now: Int64, by deadline: ContinuousClock.Instant) async throws -> Bool {
        guard
            let relayKV = try await self.read(self.keys.key(of: agent.relayID), at: revision, by: deadline),
            relayKV.createRevision == agent.relayIncarnation,
            let relay = RelayRecord(decoding: relayKV.value)
        else { return false }
        return relay.isLive(at: now)
    }
}
