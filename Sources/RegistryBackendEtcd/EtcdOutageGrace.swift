import EtcdProtos
import Foundation
import Logging
import RegistryCore
import SwiftProtobuf

/// Outage grace in etcd (docs/degraded-operation.md): every relay and agent that was live
/// when an outage began (last heartbeat at or before its start, deadline after it) and has
/// not been renewed since gets its deadline moved later by
/// the outage's length, at most the grace bound. Runs once per outage on each replica,
/// before any other call of that replica (``EtcdClient/endOutageIfOpen()``).
///
/// Windows count once across replicas: the `grace-until` key (``EtcdKeySchema/graceUntil``,
/// registry milliseconds) records up to when grace was granted, so a replica grants only
/// the part of its window after it. Setting it is a compare-and-set on the key's mod
/// revision, in the same transaction as the first extensions: of two replicas that read
/// the same `grace-until`, one wins and the other reads again and grants only what is left.
///
/// Round trips, per application: one transaction reads `grace-until` with the first page
/// of relays; then one range read per further page of relays or agents (``pageSize``
/// keys each); and one transaction per ``entriesPerTransaction`` entries to extend (plus
/// one more that only sets `grace-until` when nothing needs extending). Never one per entry.
///
/// Atomic per transaction, not as a whole: each chunk of extensions applies entirely or
/// not at all, but the chunks apply one after another. Until the last one has, other
/// replicas (those without an outage of their own, which do not wait) may judge entries
/// of later chunks by their un-extended deadlines, answering NOT_FOUND for an entry that
/// grace is about to save. This replica does not: its calls wait for the whole step. Each
/// extension is guarded by its key's mod revision, so a heartbeat written meanwhile by
/// another replica wins (a renewed entry needs no grace) and is never overwritten.
///
/// Leases are kept, not renewed: every lease is granted for the TTL plus the lease grace
/// plus the grace bound and renewed with the heartbeat that set the entry's deadline, so
/// a deadline moved by at most the bound still ends before the lease does. (An entry
/// extended by several outages in a row without a heartbeat can outlive its lease: etcd
/// then removes it, at most the bound after its original deadline, which the rule allows.)
struct EtcdOutageGrace: Sendable {
    let keys: EtcdKeySchema
    /// The grace bound (`--outage-grace-max`) in milliseconds; 0 turns grace off.
    let bound: Int64
    /// Registry time now, in milliseconds.
    let now: @Sendable () -> Int64
    let logger: Logger

    /// Entries per transaction: etcd's `--max-txn-ops` (128 by default) bounds each of a
    /// transaction's lists, and the first transaction adds one compare, put and get for
    /// `grace-until`.
    static var entriesPerTransaction: Int { 120 }
    /// Keys read per page.
    static var pageSize: Int64 { 2_000 }
    /// How many times a step starts over, or a chunk is written again, after losing a race.
    static var maximumAttempts: Int { 32 }

    /// What one application granted.
    struct Grant {
        var grace: Int64
        var relays = 0
        var agents = 0
    }

    /// Another replica set `grace-until` since it was read: start over from it.
    private struct ClaimLost: Error {}

    /// The compare-and-set of `grace-until` that rides along with the first write.
    private struct Claim {
        /// `grace-until`'s mod revision when read; 0 when it did not exist.
        let modRevision: Int64
        let compare: Etcdserverpb_Compare
        let put: Etcdserverpb_RequestOp

        func holds(_ current: Mvccpb_KeyValue?) -> Bool {
            (current?.modRevision ?? 0) == self.modRevision
        }
    }

    /// One entry to extend: its key as read and the value to write.
    private struct Extension {
        let key: [UInt8]
        let modRevision: Int64
        let lease: Int64
        let lastHeartbeat: Int64
        let value: [UInt8]
    }

    /// Grants grace for an outage of `length` (on this replica's monotonic clock) and
    /// returns the grace granted. Throws when etcd cannot be reached (the outage then
    /// stays open) or when other writers kept winning.
    func apply(forOutageSince since: ContinuousClock.Instant, through client: EtcdClient) async throws -> Duration {
        guard self.bound > 0 else { return .zero }
        for round in 0..<Self.maximumAttempts {
            do {
                let grant = try await self.attempt(since: since, through: client)
                self.logger.info(
                    "outage grace granted",
                    metadata: [
                        "etcd": "\(client.configuration.endpointsDescription)",
                        "grace_ms": "\(grant.grace)",
                        "relays": "\(grant.relays)",
                        "agents": "\(grant.agents)",
                    ]
                )
                return .milliseconds(grant.grace)
            } catch is ClaimLost {
                try await Task.sleep(for: .microseconds(Int.random(in: 0...(100 * (round + 1)))))
            }
        }
        throw RegistryError.unavailable(
            "\(client.storeDescription): outage grace kept conflicting with other replicas; gave up after \(Self.maximumAttempts) attempts"
        )
    }

    private func attempt(since: ContinuousClock.Instant, through client: EtcdClient) async throws -> Grant {
        // The outage's start in registry time, now; its end is when etcd answers below (a
        // step begun while etcd is still down must not under-count the outage).
        let outageStart = self.now() - max((ContinuousClock.now - since).wholeMilliseconds, 0)
        let untilKey = self.keys.graceUntil
        let first = try await client.txn(
            .with {
                $0.success = [
                    EtcdOperation.get(untilKey),
                    EtcdOperation.range(.prefix(self.keys.relayPrefix, limit: Self.pageSize)),
                ]
            },
            by: client.operationDeadline(),
            gated: false
        )
        let now = self.now()
        let until = first.rangeResult(0).first
        var start = outageStart
        if let until, let grantedUntil = Int64(String(decoding: until.value, as: UTF8.self)) {
            start = max(start, grantedUntil)
        }
        guard start < now else { return Grant(grace: 0) }
        let grace = min(now - start, self.bound)
        var claim: Claim? = Claim(
            modRevision: until?.modRevision ?? 0,
            compare: until.map { EtcdCompare.unmodified(untilKey, since: $0.modRevision) } ?? EtcdCompare.absent(untilKey),
            put: EtcdOperation.put(untilKey, Array(String(now).utf8), lease: 0)
        )
        var grant = Grant(grace: grace)
        var firstRelays: Etcdserverpb_RangeResponse?
        if first.responses.count > 1, case .responseRange(let page)? = first.responses[1].response {
            firstRelays = page
        }
        grant.relays = try await self.extendAll(
            RelayRecord.self, under: self.keys.relayPrefix, firstPage: firstRelays,
            start: start, grace: grace, claim: &claim, through: client
        )
        grant.agents = try await self.extendAll(
            AgentRecord.self, under: self.keys.agentPrefix, firstPage: nil,
            start: start, grace: grace, claim: &claim, through: client
        )
        if let claim {
            // Nothing to extend: still record the window as granted.
            let response = try await client.txn(
                .with {
                    $0.compare = [claim.compare]
                    $0.success = [claim.put]
                },
                by: client.operationDeadline(),
                gated: false
            )
            guard response.succeeded else { throw ClaimLost() }
        }
        return grant
    }

    /// Extends every entry under `prefix` live at `start` and not renewed since, page by
    /// page (each page read afresh: earlier pages' writes do not touch its keys).
    private func extendAll<Record: GraceExtensibleRecord>(
        _ kind: Record.Type,
        under prefix: [UInt8],
        firstPage: Etcdserverpb_RangeResponse?,
        start: Int64,
        grace: Int64,
        claim: inout Claim?,
        through client: EtcdClient
    ) async throws -> Int {
        var page: Etcdserverpb_RangeResponse
        if let firstPage {
            page = firstPage
        } else {
            page = try await client.range(.prefix(prefix, limit: Self.pageSize), by: client.operationDeadline(), gated: false)
        }
        var extended = 0
        while true {
            let candidates = page.kvs.compactMap { self.extended($0, as: kind, start: start, grace: grace) }
            for chunkStart in stride(from: 0, to: candidates.count, by: Self.entriesPerTransaction) {
                let chunk = Array(candidates[chunkStart..<min(chunkStart + Self.entriesPerTransaction, candidates.count)])
                extended += try await self.write(chunk, as: kind, start: start, grace: grace, claim: &claim, through: client)
            }
            guard page.more, let last = page.kvs.last else { return extended }
            page = try await client.range(
                .prefix(prefix, from: Array(last.key) + [0], limit: Self.pageSize),
                by: client.operationDeadline(),
                gated: false
            )
        }
    }

    /// The extension of `kv`'s entry if it was live at `start` and not renewed late in
    /// the window.
    private func extended<Record: GraceExtensibleRecord>(
        _ kv: Mvccpb_KeyValue,
        as kind: Record.Type,
        start: Int64,
        grace: Int64
    ) -> Extension? {
        // Live when the outage began, and last written in the first half of the granted
        // window: writes in flight when etcd stopped are applied when it resumes with a
        // heartbeat just after the start; renewals after etcd came back (another
        // replica's) are not extended.
        let cutoff = start + grace / 2
        guard var record = Record(decoding: kv.value), record.lastHeartbeat < cutoff, start < record.deadline else { return nil }
        record.deadline += grace
        return Extension(key: Array(kv.key), modRevision: kv.modRevision, lease: kv.lease, lastHeartbeat: record.lastHeartbeat, value: record.encoded())
    }

    /// Writes one chunk in one transaction, each put guarded by its key's mod revision (and
    /// the pending claim, if any, riding along). When refused, the entries that changed
    /// are judged again from the values the refusal returned: renewed or removed ones drop
    /// out, ones another replica's later grace moved are extended on top of it.
    /// - Returns: how many entries were extended.
    private func write<Record: GraceExtensibleRecord>(
        _ chunk: [Extension],
        as kind: Record.Type,
        start: Int64,
        grace: Int64,
        claim: inout Claim?,
        through client: EtcdClient
    ) async throws -> Int {
        var pending = chunk
        for _ in 0..<Self.maximumAttempts {
            guard !pending.isEmpty else { return 0 }
            var request = Etcdserverpb_TxnRequest.with {
                $0.compare = pending.map { EtcdCompare.unmodified($0.key, since: $0.modRevision) }
                $0.success = pending.map { EtcdOperation.put($0.key, $0.value, lease: $0.lease) }
                $0.failure = pending.map { EtcdOperation.get($0.key) }
            }
            if let claim {
                request.compare.append(claim.compare)
                request.success.append(claim.put)
                request.failure.append(EtcdOperation.get(self.keys.graceUntil))
            }
            let reads = request.failure
            let current: [Mvccpb_KeyValue?]
            do {
                let response = try await client.txn(request, by: client.operationDeadline(), gated: false)
                if response.succeeded {
                    claim = nil
                    return pending.count
                }
                current = reads.indices.map { response.rangeResult($0).first }
            } catch EtcdClientError.leaseNotFound {
                // A lease ran out and took its key along: read the chunk again.
                let response = try await client.txn(.with { $0.success = reads }, by: client.operationDeadline(), gated: false)
                current = reads.indices.map { response.rangeResult($0).first }
            }
            if let claim, !claim.holds(current[pending.count]) {
                throw ClaimLost()
            }
            // Judged again by the same rule: a write in flight when etcd stopped, applied as
            // it resumed, still qualifies; a renewal made after it came back does not.
            pending = current.prefix(pending.count).compactMap { kv in
                kv.flatMap { self.extended($0, as: kind, start: start, grace: grace) }
            }
        }
        throw RegistryError.unavailable(
            "\(client.storeDescription): outage grace kept conflicting with concurrent updates; gave up after \(Self.maximumAttempts) attempts"
        )
    }
}

/// A stored record whose deadline outage grace can move.
protocol GraceExtensibleRecord {
    init?(decoding bytes: some Collection<UInt8>)
    var deadline: Int64 { get set }
    var lastHeartbeat: Int64 { get }
    func encoded() -> [UInt8]
}

extension RelayRecord: GraceExtensibleRecord {}
extension AgentRecord: GraceExtensibleRecord {}

extension EtcdKeySchema {
    /// `<prefix>grace-until`: registry milliseconds up to which outage grace has been
    /// granted, by any replica.
    var graceUntil: [UInt8] {
        self.prefix + Array("grace-until".utf8)
    }
}
