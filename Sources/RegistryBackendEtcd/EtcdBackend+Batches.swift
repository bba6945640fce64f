import EtcdProtos
import SwiftProtobuf
import RegistryCore

/// One transaction of a sync: a step for each of up to ``EtcdBackend/agentsPerTransaction``
/// agents, optionally guarded as a whole (capacity).
struct SyncChunk: Sendable {
    struct Entry: Sendable {
        enum Step: Sendable {
            /// Get the key.
            case read
            /// A nested transaction: put the agent's new record if this compare on its key
            /// (unmodified, or absent) and the relay guards hold, else get the key (and the
            /// relay's keys, when the write names them).
            case write(Etcdserverpb_Compare)
            /// As `write`, a placement: the relay must also not be draining.
            case place(Etcdserverpb_Compare)
        }

        /// The agent's index in the sync.
        let agent: Int
        let key: [UInt8]
        let step: Step
        /// For a placement over an agent within its own TTL on another relay: that relay's
        /// incarnation. Its key is read in the write's own transaction, so a written entry
        /// tells whether the agent moved off a live placement.
        var movingFrom: RelayCheck?
    }

    var entries: [Entry]
    /// Required of the whole transaction; when it fails, every key is read instead.
    var guardCompare: Etcdserverpb_Compare?
}

extension SyncChunk.Entry.Step {
    /// Whether the step writes (else it only reads).
    var writes: Bool {
        switch self {
        case .read: false
        case .write, .place: true
        }
    }
}

/// What every agent of a sync is written with: the same record (this relay's incarnation,
/// now), the relay's lease, and the compares that the relay is still that incarnation and live.
struct AgentPlacementWrite: Sendable {
    var value: [UInt8]
    var lease: Int64
    var relayGuards: [Etcdserverpb_Compare]
    /// Also required of placements (not of renewals): the relay is not draining.
    var placementGuards: [Etcdserverpb_Compare] = []
    /// The relay's key and its drain key, read by a refused write to tell whether the
    /// incarnation ended or started draining (``SyncRelaySeen``); empty: not read.
    var relayKeys: [[UInt8]] = []

    func on(lease: Int64) -> Self {
        var copy = self
        copy.lease = lease
        return copy
    }
}

/// How a sync transaction went.
enum SyncChunkOutcome: Sendable {
    enum EntryResult: Sendable {
        /// Written at this mod revision; with the key of the relay the entry was moving
        /// from (``SyncChunk/Entry/movingFrom``) as the write found it, or nil.
        case written(modRevision: Int64, movingFrom: Mvccpb_KeyValue?)
        /// Not written (compares failed) or only read: the key as it is.
        case seen(AgentKeyState)
    }

    /// Results in the chunk's order, and the relay's keys as refused writes saw them (nil
    /// when no write was refused or the write names no relay keys).
    case ran([EntryResult], relay: SyncRelaySeen?)
    /// The chunk's guard failed; nothing was written. The keys as they are.
    case guardFailed([AgentKeyState])
    /// The lease was gone; nothing was written.
    case leaseLost
}

/// The syncing relay's key and drain key as a refused agent write saw them.
struct SyncRelaySeen: Sendable {
    var relay: Mvccpb_KeyValue?
    var drain: Mvccpb_KeyValue?

    /// Whether the incarnation synced ended: its key is gone, another incarnation's, or not
    /// live at `now` (nothing more can be placed or renewed on it).
    func ended(incarnation: Int64, now: Int64) -> Bool {
        guard let relay, relay.createRevision == incarnation, let record = RelayRecord(decoding: relay.value) else { return true }
        return !record.isLive(at: now)
    }

    func draining(incarnation: Int64) -> Bool {
        EtcdDrain.isDraining(self.drain, incarnation: incarnation)
    }
}

/// A relay incarnation to check at a revision: is it (still) live?
struct RelayCheck: Hashable, Sendable {
    var relayID: RelayID
    var incarnation: Int64
    /// 0 for the newest.
    var revision: Int64

    /// Whether `kv`, the relay's key as read, is this incarnation and live at registry time `now`.
    func isLive(_ kv: Mvccpb_KeyValue?, now: Int64) -> Bool {
        guard let kv, kv.createRevision == self.incarnation, let relay = RelayRecord(decoding: kv.value) else { return false }
        return relay.isLive(at: now)
    }
}

extension EtcdBackend {
    /// Runs one sync transaction, with the whole timeout (as each page of a list): a sync
    /// of thousands of agents takes as long as it needs while every transaction answers.
    func run(_ chunk: SyncChunk, writing write: AgentPlacementWrite) async throws -> SyncChunkOutcome {
        let request = Etcdserverpb_TxnRequest.with { request in
            if let guardCompare = chunk.guardCompare {
                request.compare = [guardCompare]
                request.failure = chunk.entries.map { EtcdOperation.get($0.key) }
            }
            request.success = chunk.entries.map { entry in
                switch entry.step {
                case .read:
                    return EtcdOperation.get(entry.key)
                case .write(let agentCompare):
                    return Self.nestedWrite(entry.key, agentCompare, write.relayGuards, write)
                case .place(let agentCompare):
                    let previousRelayKey = entry.movingFrom.map { self.keys.key(of: $0.relayID) }
                    return Self.nestedWrite(entry.key, agentCompare, write.relayGuards + write.placementGuards, write, alsoReading: previousRelayKey)
                }
            }
        }
        let response: Etcdserverpb_TxnResponse
        do {
            response = try await self.client.txn(request, by: self.client.operationDeadline())
        } catch EtcdClientError.leaseNotFound {
            return .leaseLost
        }
        let revision = response.header.revision
        guard response.succeeded else {
            return .guardFailed(chunk.entries.indices.map { AgentKeyState(response.rangeResult($0).first, readAt: revision) })
        }
        guard response.responses.count == chunk.entries.count else {
            throw RegistryError.unavailable("\(self.client.storeDescription) answered a transaction of \(chunk.entries.count) operations with \(response.responses.count) results")
        }
        var relaySeen: SyncRelaySeen?
        let results = zip(chunk.entries, response.responses).map { entry, result -> SyncChunkOutcome.EntryResult in
            switch result.response {
            case .responseTxn(let nested)?:
                if nested.succeeded {
                    return .written(modRevision: revision, movingFrom: entry.movingFrom == nil ? nil : nested.rangeResult(1).first)
                }
                if write.relayKeys.count == 2, nested.responses.count == 3 {
                    relaySeen = SyncRelaySeen(relay: nested.rangeResult(1).first, drain: nested.rangeResult(2).first)
                }
                return .seen(AgentKeyState(nested.rangeResult(0).first, readAt: revision))
            case .responseRange(let range)?:
                return .seen(AgentKeyState(range.kvs.first, readAt: revision))
            default:
                // Not an answer to what was asked: read the key again next round.
                return .seen(AgentKeyState(nil, readAt: 0))
            }
        }
        return .ran(results, relay: relaySeen)
    }

    /// One agent's step as a nested transaction: put `write`'s record at `key` (and get
    /// `extraKey`, when given) if `compares` hold, else get the key and the relay's keys.
    private static func nestedWrite(
        _ key: [UInt8],
        _ agentCompare: Etcdserverpb_Compare,
        _ relayCompares: [Etcdserverpb_Compare],
        _ write: AgentPlacementWrite,
        alsoReading extraKey: [UInt8]? = nil
    ) -> Etcdserverpb_RequestOp {
        .with {
            $0.requestTxn = .with {
                $0.compare = [agentCompare] + relayCompares
                $0.success = [EtcdOperation.put(key, write.value, lease: write.lease)] + (extraKey.map { [EtcdOperation.get($0)] } ?? [])
                $0.failure = [EtcdOperation.get(key)] + write.relayKeys.map { EtcdOperation.get($0) }
            }
        }
    }

    /// Reads agent keys, up to ``agentsPerTransaction`` per transaction, concurrently, each
    /// with the whole timeout; with `countingAgents`, the first transaction also counts the
    /// stored agent keys, and with `alsoReading`, it also reads that key.
    func readAgentKeys(
        _ keys: [[UInt8]],
        countingAgents: Bool,
        alsoReading extraKey: [UInt8]? = nil
    ) async throws -> (states: [AgentKeyState], counted: AgentCount?, extra: Mvccpb_KeyValue?) {
        guard !keys.isEmpty else { return ([], nil, nil) }
        let chunks = Self.chunked(keys)
        let countOperation = Etcdserverpb_RequestOp.with { $0.requestRange = .prefix(self.keys.agentPrefix, countOnly: true) }
        let responses = try await self.concurrently(Array(chunks.enumerated())) { index, chunk in
            try await self.client.txn(
                .with {
                    $0.success = chunk.map { EtcdOperation.get($0) }
                    if countingAgents && index == 0 {
                        $0.success.append(countOperation)
                    }
                    if let extraKey, index == 0 {
                        $0.success.append(EtcdOperation.get(extraKey))
                    }
                },
                by: self.client.operationDeadline()
            )
        }
        var states: [AgentKeyState] = []
        states.reserveCapacity(keys.count)
        for (response, chunk) in zip(responses, chunks) {
            states += chunk.indices.map { AgentKeyState(response.rangeResult($0).first, readAt: response.header.revision) }
        }
        var counted: AgentCount?
        var extra: Mvccpb_KeyValue?
        if let first = responses.first, let firstChunk = chunks.first {
            var index = firstChunk.count
            if countingAgents {
                if index < first.responses.count, case .responseRange(let range)? = first.responses[index].response {
                    counted = AgentCount(count: Int(range.count), revision: first.header.revision)
                }
                index += 1
            }
            if extraKey != nil {
                extra = first.rangeResult(index).first
            }
        }
        return (states, counted, extra)
    }

    /// Reads relay keys, each at its revision (0: the newest), up to ``agentsPerTransaction``
    /// per transaction, concurrently, each with the whole timeout. When a revision is
    /// compacted away, reads them all at the newest instead.
    func readRelays(_ wanted: [(RelayID, revision: Int64)]) async throws -> [Mvccpb_KeyValue?] {
        guard !wanted.isEmpty else { return [] }
        func read(_ wanted: [(key: [UInt8], revision: Int64)]) async throws -> [Mvccpb_KeyValue?] {
            let responses = try await self.concurrently(Self.chunked(wanted)) { chunk in
                try await self.client.txn(
                    .with { $0.success = chunk.map { EtcdOperation.get($0.key, revision: $0.revision) } },
                    by: self.client.operationDeadline()
                )
            }
            return zip(responses, Self.chunked(wanted)).flatMap { response, chunk in
                chunk.indices.map { response.rangeResult($0).first }
            }
        }
        let keyed = wanted.map { (key: self.keys.key(of: $0.0), revision: $0.revision) }
        do {
            return try await read(keyed)
        } catch EtcdClientError.revisionUnavailable {
            return try await read(keyed.map { (key: $0.key, revision: 0) })
        }
    }

    /// Whether each relay incarnation was live at its revision (by registry time `now`).
    func liveIncarnations(_ checks: [RelayCheck], now: Int64) async throws -> [Bool] {
        let kvs = try await self.readRelays(checks.map { ($0.relayID, revision: $0.revision) })
        return zip(checks, kvs).map { check, kv in check.isLive(kv, now: now) }
    }

    /// `elements` in runs of at most ``agentsPerTransaction``.
    static func chunked<Element>(_ elements: [Element]) -> [[Element]] {
        stride(from: 0, to: elements.count, by: Self.agentsPerTransaction).map {
            Array(elements[$0..<min($0 + Self.agentsPerTransaction, elements.count)])
        }
    }
}
