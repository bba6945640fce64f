import Logging
import SwiftProtobuf
import EtcdProtos
import Foundation
import RegistryCore

/// Every stored relay at one revision, split by liveness.
struct RelayScan {
    struct Entry {
        let id: RelayID
        let record: RelayRecord
        /// The relay's incarnation.
        let createRevision: Int64
    }

    /// Live relays, sorted by ID.
    var live: [Entry] = []
    /// Relay keys whose deadline has passed (or whose value is not one of ours).
    var expired: [Mvccpb_KeyValue] = []
    /// The revision everything was read at.
    var revision: Int64 = 0

    /// The incarnation of each live relay.
    var liveIncarnations: [RelayID: Int64] {
        Dictionary(self.live.map { ($0.id, $0.createRevision) }, uniquingKeysWith: { first, _ in first })
    }
}

/// Every stored agent at one revision, split by liveness.
struct AgentScan {
    /// Live agents, sorted by ID.
    var live: [Agent] = []
    /// Agent keys that are not live: their deadline passed, or their relay's incarnation is not live.
    var expired: [Mvccpb_KeyValue] = []
}

extension EtcdBackend {
    /// How many times a scan starts over when its revision is compacted away mid-read.
    private static var scanAttempts: Int { 3 }

    /// Every key under `prefix`, page by page, all at one revision: `revision`, or the
    /// newest when 0 (then the first page's). Each page gets the whole timeout: a long
    /// list takes as long as it needs while every page keeps answering.
    func readPrefix(
        _ prefix: [UInt8],
        at revision: Int64 = 0
    ) async throws -> (kvs: [Mvccpb_KeyValue], revision: Int64) {
        var kvs: [Mvccpb_KeyValue] = []
        var revision = revision
        var start: [UInt8]? = nil
        while true {
            let page = try await self.client.range(
                .prefix(prefix, from: start, limit: Self.pageSize, revision: revision),
                by: self.client.operationDeadline()
            )
            if revision == 0 {
                revision = page.header.revision
            }
            kvs += page.kvs
            guard page.more, let last = page.kvs.last else { break }
            start = Array(last.key) + [0]  // the next key after the last one read
        }
        return (kvs, revision)
    }

    /// Relays at the newest revision.
    func scanRelays(now: Int64) async throws -> RelayScan {
        try await self.withScanRetries {
            try await self.scanRelays(now: now, at: 0)
        }
    }

    /// Relays and agents at one revision.
    func scanAll(now: Int64) async throws -> (relays: RelayScan, agents: AgentScan) {
        try await self.withScanRetries {
            let relays = try await self.scanRelays(now: now, at: 0)
            let agents = try await self.scanAgents(now: now, relays: relays)
            return (relays, agents)
        }
    }

    /// Runs `scan` again (a few times) when the revision it reads at is compacted away.
    func withScanRetries<Result>(_ scan: () async throws -> Result) async throws -> Result {
        var attempt = 1
        while true {
            do {
                return try await scan()
            } catch EtcdClientError.revisionUnavailable where attempt < Self.scanAttempts {
                attempt += 1
            } catch EtcdClientError.revisionUnavailable {
                throw RegistryError.unavailable("\(self.client.storeDescription) compacted the revision a list was being read at, \(Self.scanAttempts) times running")
            }
        }
    }

    private func scanRelays(now: Int64, at revision: Int64) async throws -> RelayScan {
        let (kvs, revision) = try await self.readPrefix(self.keys.relayPrefix, at: revision)
        var scan = RelayScan(revision: revision)
        scan.live.reserveCapacity(kvs.count)
        for kv in kvs {
            guard let id = self.keys.relayID(fromKey: kv.key) else { continue }  // not a key this backend writes
            if let record = RelayRecord(decoding: kv.value), record.isLive(at: now) {
                scan.live.append(RelayScan.Entry(id: id, record: record, createRevision: kv.createRevision))
            } else {
                scan.expired.append(kv)
            }
        }
        return scan
    }

    private func scanAgents(now: Int64, relays: RelayScan) async throws -> AgentScan {
        let incarnations = relays.liveIncarnations
        let (kvs, _) = try await self.readPrefix(self.keys.agentPrefix, at: relays.revision)
        var scan = AgentScan()
        scan.live.reserveCapacity(kvs.count)
        for kv in kvs {
            guard let id = self.keys.agentID(fromKey: kv.key) else { continue }
            if let record = AgentRecord(decoding: kv.value), now < record.deadline,
                incarnations[record.relayID] == record.relayIncarnation
            {
                scan.live.append(Agent(id: id, relayID: record.relayID, lastHeartbeat: UnixMilliseconds(record.lastHeartbeat)))
            } else {
                scan.expired.append(kv)
            }
        }
        return scan
    }
}
