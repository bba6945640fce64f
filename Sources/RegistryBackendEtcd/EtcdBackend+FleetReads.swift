import EtcdProtos
import SwiftProtobuf
public import RegistryCore

/// The fleet extension's reads: batch lookups and keyset-paged lists.
///
/// Keys are the hex of the IDs' UTF-8 bytes, which sorts exactly as the IDs do, so a page
/// is a range read from the key just after `after`'s, in ID order. Each call reads at one
/// revision: an agent is judged together with its relay as they were at that revision.
extension EtcdBackend {
    public func placements(of ids: [AgentID]) async throws -> PlacementLookup {
        let now = self.now()
        let (states, _, _) = try await self.readAgentKeys(ids.map { self.keys.key(of: $0) }, countingAgents: false)
        // Each agent's relay, at the revision the agent was read at.
        var wanted: [RelayCheck: Int] = [:]
        var order: [RelayCheck] = []
        for state in states {
            guard let record = state.record, now < record.deadline else { continue }
            let check = RelayCheck(relayID: record.relayID, incarnation: record.relayIncarnation, revision: state.revision)
            if wanted[check] == nil {
                wanted[check] = order.count
                order.append(check)
            }
        }
        let relays = try await self.readRelays(order.map { ($0.relayID, revision: $0.revision) })
        var found: [FleetPlacement] = []
        var missing: [AgentID] = []
        for (id, state) in zip(ids, states) {
            if let record = state.record,
                let index = wanted[RelayCheck(relayID: record.relayID, incarnation: record.relayIncarnation, revision: state.revision)],
                let placement = Self.fleetPlacement(id, record, relay: relays[index], now: now)
            {
                found.append(placement)
            } else {
                missing.append(id)
            }
        }
        return PlacementLookup(placements: found, missing: missing, asOf: UnixMilliseconds(now))
    }

    public func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> {
        let now = self.now()
        return try await self.withScanRetries {
            try await self.listPlacements(relayID: relayID, after: after, limit: limit, now: now)
        }
    }

    /// Reads agent keys from `after` in pages, all at the first page's revision, until
    /// `limit` live placements and one more are found or the keys end. With a relay, its
    /// key is read in the first page's transaction; without one, each page's relays are
    /// read after it (concurrently, at the same revision).
    private func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int, now: Int64) async throws -> Page<FleetPlacement> {
        var entries: [FleetPlacement] = []
        var relays: [RelayID: Mvccpb_KeyValue?] = [:]
        var revision: Int64 = 0
        var start = after.map { self.keys.key(of: $0) + [0] }
        let pageSize = Self.listPageSize(limit)
        while true {
            var operations = [EtcdOperation.range(.prefix(self.keys.agentPrefix, from: start, limit: pageSize, revision: revision))]
            if let relayID, revision == 0 {
                operations.append(EtcdOperation.get(self.keys.key(of: relayID)))
            }
            let response = try await self.client.txn(.with { $0.success = operations }, by: self.client.operationDeadline())
            if revision == 0 {
                revision = response.header.revision
                if let relayID {
                    let relay = response.rangeResult(1).first
                    guard let relay, RelayRecord(decoding: relay.value)?.isLive(at: now) == true else {
                        return Page(entries: [], hasMore: false, asOf: UnixMilliseconds(now))
                    }
                    relays[relayID] = relay
                }
            }
            guard case .responseRange(let page)? = response.responses.first?.response else {
                throw RegistryError.unavailable("\(self.client.storeDescription) answered a range read without its keys")
            }
            var candidates: [(AgentID, AgentRecord)] = []
            for kv in page.kvs {
                guard let id = self.keys.agentID(fromKey: kv.key), let record = AgentRecord(decoding: kv.value), now < record.deadline,
                    relayID == nil || record.relayID == relayID
                else { continue }
                candidates.append((id, record))
            }
            var unread: [RelayID] = []
            for (_, record) in candidates where relays[record.relayID] == nil && !unread.contains(record.relayID) {
                unread.append(record.relayID)
            }
            for (id, kv) in zip(unread, try await self.readRelays(unread.map { ($0, revision: revision) })) {
                relays[id] = .some(kv)
            }
            for (id, record) in candidates {
                guard let placement = Self.fleetPlacement(id, record, relay: relays[record.relayID] ?? nil, now: now) else { continue }
                if entries.count == limit {
                    return Page(entries: entries, hasMore: true, asOf: UnixMilliseconds(now))
                }
                entries.append(placement)
            }
            guard page.more, let last = page.kvs.last else {
                return Page(entries: entries, hasMore: false, asOf: UnixMilliseconds(now))
            }
            start = Array(last.key) + [0]
        }
    }

    public func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> {
        let now = self.now()
        return try await self.withScanRetries {
            try await self.listRelayStatuses(after: after, limit: limit, now: now)
        }
    }

    /// Reads relay keys from `after` until `limit` live relays and one more are found or the
    /// keys end, then counts their agents by reading every agent key at the same revision:
    /// there is no index of agents by relay, so a page costs a read of the agent prefix.
    /// The drain keys of the page's span are read at that revision too.
    private func listRelayStatuses(after: RelayID?, limit: Int, now: Int64) async throws -> Page<RelayStatus> {
        var live: [RelayScan.Entry] = []
        var revision: Int64 = 0
        var start = after.map { self.keys.key(of: $0) + [0] }
        var hasMore = false
        let pageSize = Self.listPageSize(limit)
        scanning: while true {
            let page = try await self.client.range(
                .prefix(self.keys.relayPrefix, from: start, limit: pageSize, revision: revision),
                by: self.client.operationDeadline()
            )
            if revision == 0 {
                revision = page.header.revision
            }
            for kv in page.kvs {
                guard let id = self.keys.relayID(fromKey: kv.key), let record = RelayRecord(decoding: kv.value), record.isLive(at: now) else { continue }
                if live.count == limit {
                    hasMore = true
                    break scanning
                }
                live.append(RelayScan.Entry(id: id, record: record, createRevision: kv.createRevision))
            }
            guard page.more, let last = page.kvs.last else { break }
            start = Array(last.key) + [0]
        }
        guard !live.isEmpty else {
            return Page(entries: [], hasMore: false, asOf: UnixMilliseconds(now))
        }

        var counts = Dictionary(uniqueKeysWithValues: live.map { ($0.id, (incarnation: $0.createRevision, agents: 0)) })
        let (agents, _) = try await self.readPrefix(self.keys.agentPrefix, at: revision)
        for kv in agents {
            guard let record = AgentRecord(decoding: kv.value), now < record.deadline,
                counts[record.relayID]?.incarnation == record.relayIncarnation
            else { continue }
            counts[record.relayID]?.agents += 1
        }
        var drains: [RelayID: Mvccpb_KeyValue] = [:]
        if let first = live.first, let last = live.last {
            drains = try await self.drainKeys(from: first.id, through: last.id, at: revision)
        }
        let entries = live.map { relay in
            RelayStatus(
                relay: Relay(id: relay.id, endpoint: relay.record.endpoint, lastHeartbeat: UnixMilliseconds(relay.record.lastHeartbeat)),
                expires: UnixMilliseconds(relay.record.deadline),
                incarnation: RelayIncarnation(UInt64(relay.createRevision)),
                agentCount: counts[relay.id]?.agents ?? 0,
                draining: EtcdDrain.isDraining(drains[relay.id], incarnation: relay.createRevision)
            )
        }
        return Page(entries: entries, hasMore: hasMore, asOf: UnixMilliseconds(now))
    }

    /// Keys per range of a paged list: one more than asked for (to tell whether more
    /// follow), at least 64 (expired entries are skipped), at most ``pageSize``.
    private static func listPageSize(_ limit: Int) -> Int64 {
        Int64(min(max(limit + 1, 64), Int(Self.pageSize)))
    }

    /// The placement of an agent whose record is `agent`, if it and its relay (`relay`, the
    /// relay key read at the same revision) are live at `now`.
    static func fleetPlacement(_ id: AgentID, _ agent: AgentRecord, relay: Mvccpb_KeyValue?, now: Int64) -> FleetPlacement? {
        guard now < agent.deadline, let relay, relay.createRevision == agent.relayIncarnation,
            let relayRecord = RelayRecord(decoding: relay.value), relayRecord.isLive(at: now)
        else { return nil }
        return FleetPlacement(
            agentID: id,
            relayID: agent.relayID,
            lastHeartbeat: UnixMilliseconds(agent.lastHeartbeat),
            expires: UnixMilliseconds(min(agent.deadline, relayRecord.deadline)),
            relayIncarnation: RelayIncarnation(UInt64(agent.relayIncarnation))
        )
    }
}
