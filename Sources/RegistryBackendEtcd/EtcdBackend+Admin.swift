import EtcdProtos
import Foundation
import Logging
import SwiftProtobuf
public import RegistryCore

/// The admin operations (docs/contract.md, "Admin operations"): deregistering relays and
/// agents, and draining relays.
///
/// - **A relay's end** is one transaction: its key (and its drain key) deleted if the relay
///   key's mod revision is still the one judged live, so a concurrent renewal or
///   re-registration is never deleted (the call judges again). Its agents name an
///   incarnation (create revision) that then no longer exists, so they are dead at once,
///   whatever is left of their keys; and a relay registered again is a new key, a new
///   incarnation. The agents are counted as they were just before that transaction, from a
///   paged read of the agent prefix at the revision before it, and their keys deleted
///   afterwards in chunks (each delete guarded by its mod revision).
/// - **An agent's end** is one transaction: its key deleted if unmodified since it was read
///   and its relay still that live incarnation.
/// - **Draining** is a key of its own (``EtcdDrain``), on the relay's lease. Every placement
///   requires ``EtcdCompare/notDraining(_:incarnation:)`` in its transaction, so no
///   placement commits on a draining relay, on any replica; renewals do not check it.
///
/// Nothing this replica remembers (``RecentWrites``) can renew what ended: every hinted
/// write compares the mod revision it remembers, which a deleted key no longer has.
extension EtcdBackend {
    public func deregisterRelay(_ id: RelayID) async throws -> Int {
        let deadline = self.client.operationDeadline()
        let relayKey = self.keys.key(of: id)
        let ended = try await self.retryingConflicts("deregistering relay \(id)") { () -> EndedRelay? in
            let now = self.now()
            guard
                let kv = try await self.read(relayKey, by: deadline),
                let record = RelayRecord(decoding: kv.value),
                record.isLive(at: now)
            else {
                self.recent.remember(id, nil)
                throw RegistryError.notFound("relay \(id) is not registered or has expired")
            }
            let response = try await self.client.txn(
                .with {
                    $0.compare = [EtcdCompare.unmodified(relayKey, since: kv.modRevision)]
                    $0.success = [EtcdOperation.delete(relayKey), EtcdOperation.delete(self.keys.drainKey(of: id))]
                },
                by: deadline
            )
            guard response.succeeded else { return nil }
            return EndedRelay(incarnation: kv.createRevision, revision: response.header.revision, now: now)
        }
        self.recent.remember(id, nil)
        let agents: [Mvccpb_KeyValue]
        do {
            agents = try await self.agentKeys(on: id, incarnation: ended.incarnation, endedAt: ended.revision)
        } catch let error as RegistryError {
            throw RegistryError(error.code, "relay \(id) was deregistered, but counting its agents failed: \(error.message)", underlying: error.underlying)
        }
        let live = agents.count { kv in AgentRecord(decoding: kv.value).map { ended.now < $0.deadline } ?? false }
        await self.removeAgentKeys(agents, of: id)
        return live
    }

    /// A relay incarnation that ``deregisterRelay(_:)`` ended.
    private struct EndedRelay {
        /// The relay key's create revision.
        var incarnation: Int64
        /// The revision of the transaction that deleted it.
        var revision: Int64
        /// Registry time when it was judged live.
        var now: Int64
    }

    /// The agent keys placed on `incarnation` of `relayID` just before `revision`, the
    /// revision that ended it: the agent prefix read page by page at `revision - 1`. When etcd
    /// compacted that away, at the newest revision instead (nothing can be placed on an
    /// ended incarnation since; only agents moved or deregistered meanwhile are missed).
    private func agentKeys(on relayID: RelayID, incarnation: Int64, endedAt revision: Int64) async throws -> [Mvccpb_KeyValue] {
        let kvs: [Mvccpb_KeyValue]
        do {
            kvs = try await self.readPrefix(self.keys.agentPrefix, at: revision - 1).kvs
        } catch EtcdClientError.revisionUnavailable {
            kvs = try await self.withScanRetries { try await self.readPrefix(self.keys.agentPrefix).kvs }
        }
        return kvs.filter { kv in
            guard let record = AgentRecord(decoding: kv.value) else { return false }
            return record.relayID == relayID && record.relayIncarnation == incarnation
        }
    }

    /// Deletes the keys of agents of an ended relay incarnation, each only if unmodified
    /// since it was read (an agent placed again since keeps its new placement): one nested
    /// transaction per key, ``agentsPerTransaction`` per transaction, concurrently. Best
    /// effort: the agents are dead already, and leases collect whatever is left.
    private func removeAgentKeys(_ kvs: [Mvccpb_KeyValue], of relayID: RelayID) async {
        for kv in kvs {
            if let agentID = self.keys.agentID(fromKey: kv.key) {
                self.recent.remember(agentID, nil)
            }
        }
        do {
            _ = try await self.concurrently(Self.chunked(kvs)) { chunk in
                try await self.client.txn(
                    .with {
                        $0.success = chunk.map { kv in
                            .with {
                                $0.requestTxn = .with {
                                    $0.compare = [EtcdCompare.unmodified(Array(kv.key), since: kv.modRevision)]
                                    $0.success = [EtcdOperation.delete(Array(kv.key))]
                                }
                            }
                        }
                    },
                    by: self.client.operationDeadline()
                )
            }
        } catch {
            self.logger.warning(
                "could not remove the agent keys of a deregistered relay; their leases will",
                metadata: ["relay_id": "\(relayID)", "agents": "\(kvs.count)", "error": "\(error)"]
            )
        }
    }

    public func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws {
        let deadline = self.client.operationDeadline()
        let agentKey = self.keys.key(of: id)
        let notLive = RegistryError.notFound("agent \(id) is not registered or has expired")
        try await self.retryingConflicts("deregistering agent \(id)") { () -> Void? in
            let now = self.now()
            guard
                let agentKV = try await self.read(agentKey, by: deadline),
                let record = AgentRecord(decoding: agentKV.value),
                now < record.deadline
            else {
                self.recent.remember(id, nil)
                throw notLive
            }
            if let relayID, relayID != record.relayID {
                throw RegistryError.notFound("agent \(id) is not live on relay \(relayID)")
            }
            let relayKey = self.keys.key(of: record.relayID)
            let response = try await self.client.txn(
                .with {
                    $0.compare = [
                        EtcdCompare.unmodified(agentKey, since: agentKV.modRevision),
                        EtcdCompare.created(relayKey, at: record.relayIncarnation),
                        EtcdCompare.live(relayKey, at: now),
                    ]
                    $0.success = [EtcdOperation.delete(agentKey)]
                    $0.failure = [EtcdOperation.get(agentKey)]
                },
                by: deadline
            )
            guard response.succeeded else {
                // Written meanwhile: judge again. Unchanged: its relay is what is not live.
                guard response.rangeResult(0).first?.modRevision == agentKV.modRevision else { return nil }
                self.recent.remember(id, nil)
                throw notLive
            }
            self.recent.remember(id, nil)
            return ()
        }
    }

    public func setDraining(_ id: RelayID, _ draining: Bool) async throws {
        let deadline = self.client.operationDeadline()
        let relayKey = self.keys.key(of: id)
        let drainKey = self.keys.drainKey(of: id)
        try await self.retryingConflicts("\(draining ? "draining" : "undraining") relay \(id)") { () -> Void? in
            let now = self.now()
            let (values, _) = try await self.read([relayKey, drainKey], by: deadline)
            guard let relayKV = values[0], let relay = RelayRecord(decoding: relayKV.value), relay.isLive(at: now) else {
                self.recent.remember(id, nil)
                throw RegistryError.notFound("relay \(id) is not registered or has expired")
            }
            let incarnation = relayKV.createRevision
            let drainKV = values[1]
            if EtcdDrain.isDraining(drainKV, incarnation: incarnation) == draining {
                return ()
            }
            var request = Etcdserverpb_TxnRequest.with {
                $0.compare = [EtcdCompare.created(relayKey, at: incarnation), EtcdCompare.live(relayKey, at: now)]
            }
            if let drainKV {
                // Ending the drain; or, to start one, first removing a mark an earlier
                // incarnation left (a put would keep its old create revision).
                request.compare.append(EtcdCompare.unmodified(drainKey, since: drainKV.modRevision))
                request.success = [EtcdOperation.delete(drainKey)]
            } else {
                request.compare.append(EtcdCompare.absent(drainKey))
                request.success = [EtcdOperation.put(drainKey, Array(String(incarnation).utf8), lease: relayKV.lease)]
            }
            do {
                guard try await self.client.txn(request, by: deadline).succeeded else { return nil }
            } catch EtcdClientError.leaseNotFound {
                return nil  // the relay's lease ended, and the relay with it: judge again
            }
            // A stale mark removed: now create the new one.
            return drainKV != nil && draining ? nil : ()
        }
    }

    /// Drain keys of the relays from `first` through `last` (in ID order), by relay, at
    /// `revision`: one range read per ``pageSize`` keys in that span.
    func drainKeys(from first: RelayID, through last: RelayID, at revision: Int64) async throws -> [RelayID: Mvccpb_KeyValue] {
        var drains: [RelayID: Mvccpb_KeyValue] = [:]
        var start = self.keys.drainKey(of: first)
        let end = self.keys.drainKey(of: last) + [0]
        while true {
            let page = try await self.client.range(
                .with {
                    $0.key = Data(start)
                    $0.rangeEnd = Data(end)
                    $0.limit = Self.pageSize
                    $0.revision = revision
                },
                by: self.client.operationDeadline()
            )
            for kv in page.kvs {
                if let relayID = self.keys.relayID(fromDrainKey: kv.key) {
                    drains[relayID] = kv
                }
            }
            guard page.more, let last = page.kvs.last else { return drains }
            start = Array(last.key) + [0]
        }
    }
}

/// Draining in etcd: `<prefix>draining/<hex relay ID>` marks a relay as draining. It is
/// created (on the relay's lease) only while the relay key exists, so a mark of the current
/// incarnation is younger than the relay key: its create revision is greater than the
/// incarnation. One left by an earlier incarnation (deregistration and expiry remove it, but
/// a relay key that etcd's lease removed, or an older replica, may leave one) is older, and
/// means nothing: a relay registered again is not draining, with no cleanup needed first.
enum EtcdDrain {
    /// Whether the relay incarnation `incarnation` is draining, given its drain key `kv` as
    /// read (nil: absent).
    static func isDraining(_ kv: Mvccpb_KeyValue?, incarnation: Int64) -> Bool {
        (kv?.createRevision ?? 0) > incarnation
    }
}
