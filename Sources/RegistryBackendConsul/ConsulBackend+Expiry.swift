public import RegistryCore
import Logging
import Synchronization

/// Entries found expired by the last scan, waiting to be deleted.
struct ConsulSweepQueue: Sendable {
    struct Candidate: Sendable {
        var key: String
        /// The ModifyIndex the entry was judged expired at: it is deleted only if unchanged.
        var modifyIndex: UInt64
        var kind: ConsulKeySchema.Kind
    }

    var candidates: [Candidate] = []
    /// Registry time of the last scan.
    var lastScan: Int64?

    mutating func take(_ limit: Int) -> [Candidate] {
        let taken = Array(self.candidates.suffix(limit))
        self.candidates.removeLast(taken.count)
        return taken
    }
}

extension ConsulBackend {
    /// Most operations Consul accepts in one transaction (64 before Consul 1.16, 128 after).
    static var maximumTransactionOperations: Int { 64 }

    /// How long after a scan the next one may run: half the shorter TTL, at least a second.
    /// A scan reads the whole prefix, so running one per sweeper pass (every second by
    /// default) would cost a full read per second; garbage only occupies storage, since
    /// reads check deadlines themselves.
    var scanInterval: Int64 {
        Self.scanInterval(self.ttl)
    }

    static func scanInterval(_ ttl: TTLPolicy) -> Int64 {
        max(min(ttl.relayTTLMilliseconds, ttl.agentTTLMilliseconds) / 2, 1_000)
    }

    /// Deletes up to `limit` expired entries with `delete-cas` at the ModifyIndex each was
    /// judged by, so an entry renewed since is kept. Candidates come from one recursive
    /// read of the prefix (expired relays; agents past their TTL or whose relay incarnation
    /// is not live; undecodable entries), taken again at most every ``scanInterval``, and
    /// only by the replica holding the sweeper lock (``ConsulSweepLock``);
    /// batches of up to 64 deletions go in one txn, and when Consul rolls one back, the
    /// operations it names are dropped and the rest tried again.
    public func removeExpired(limit: Int) async throws -> ExpiryReport {
        try await self.reporting {
            let now = self.clock.now().rawValue
            var batch = self.sweep.withLock { $0.take(limit) }
            if batch.isEmpty {
                let due = self.sweep.withLock { queue in queue.lastScan.map { now - $0 >= self.scanInterval || now < $0 } ?? true }
                guard due else { return ExpiryReport() }
                let holdsLock: Bool
                do {
                    holdsLock = try await self.sweepLock.acquire(for: self)
                } catch let error as RegistryError where (error.underlying as? ConsulAnswer)?.status == 403 {
                    // The lock only saves work; a token without session:write must not stop sweeping.
                    self.logger.warning("could not take the sweeper lock in Consul; scanning without it", metadata: ["error": "\(error)"])
                    holdsLock = true
                }
                guard holdsLock else {
                    // Another replica holds the sweeper lock and scans; look again next interval.
                    self.sweep.withLock { $0.lastScan = now }
                    return ExpiryReport()
                }
                let candidates = try await self.expiredCandidates(now: now)
                batch = self.sweep.withLock { queue in
                    queue.candidates = candidates
                    queue.lastScan = now
                    return queue.take(limit)
                }
            }
            var report = ExpiryReport()
            var start = 0
            while start < batch.count {
                let chunk = Array(batch[start..<min(start + Self.maximumTransactionOperations, batch.count)])
                report += try await self.delete(chunk)
                start += chunk.count
            }
            if report.total > 0 {
                self.logger.debug(
                    "removed expired entries from Consul",
                    metadata: ["relays": "\(report.relaysRemoved)", "agents": "\(report.agentsRemoved)"]
                )
            }
            return report
        }
    }

    /// Every entry under the prefix that is not live now.
    func expiredCandidates(now: Int64) async throws -> [ConsulSweepQueue.Candidate] {
        let contents = try await self.readAll()
        var candidates: [ConsulSweepQueue.Candidate] = []
        for relay in contents.relays.values where !relay.isLive(at: now) {
            candidates.append(.init(key: self.keys.relay(relay.id), modifyIndex: relay.modifyIndex, kind: .relay))
        }
        for agent in contents.agents where !agent.isLive(at: now, relay: contents.relays[agent.relayID]) {
            candidates.append(.init(key: self.keys.agent(agent.id), modifyIndex: agent.modifyIndex, kind: .agent))
        }
        for garbage in contents.undecodable {
            self.logger.warning("removing an unreadable entry from the registry's prefix in Consul", metadata: ["key": "\(garbage.key)"])
            candidates.append(.init(key: garbage.key, modifyIndex: garbage.modifyIndex, kind: garbage.kind))
        }
        return candidates
    }

    /// Deletes `candidates` in one transaction, dropping those Consul reports changed.
    func delete(_ candidates: [ConsulSweepQueue.Candidate]) async throws -> ExpiryReport {
        var remaining = candidates
        // Each round either commits or drops at least one candidate named in Errors.
        while !remaining.isEmpty {
            let outcome = try await self.client.transaction(remaining.map { .deleteCAS($0.key, index: $0.modifyIndex) })
            switch outcome {
            case .applied:
                return ExpiryReport(
                    relaysRemoved: remaining.count { $0.kind == .relay },
                    agentsRemoved: remaining.count { $0.kind == .agent }
                )
            case .rolledBack(let failures):
                let failed = Set(failures.map(\.opIndex))
                guard !failed.isEmpty, failed.allSatisfy({ remaining.indices.contains($0) }) else {
                    throw RegistryError.unavailable("\(self.client.storeName) rolled back a deletion without saying why: \(failures)")
                }
                remaining = remaining.enumerated().filter { !failed.contains($0.offset) }.map(\.element)
            }
        }
        return ExpiryReport()
    }
}
