import Foundation
import Logging
import RegistryCore
import Synchronization

extension ConsulBackend {
    /// Closes an open outage before any other request to Consul: grants outage grace in
    /// Consul (``grantGrace(outageStartedAt:)``) and logs the outage's end. With grace off it
    /// only logs. Concurrent operations wait for the same grace step (``OutageTracker``).
    /// Fails `unavailable` while Consul still cannot be reached; the outage then stays open.
    func endOutageIfOpen() async throws(RegistryError) {
        guard self.outages.isOpen else { return }
        do {
            let ended = try await self.outages.beforeOperation { [self] monotonicSince in
                let since = self.outageStart.withLock { $0.beginGrace() }
                do {
                    // No start in registry time (a failure raced the previous grace step):
                    // the tracker's measure, on the monotonic clock.
                    let start = since ?? (self.clock.now().rawValue - (ContinuousClock.now - monotonicSince).wholeMilliseconds)
                    let grace = try await self.grantGrace(outageStartedAt: start)
                    self.outageStart.withLock { $0.graceApplied() }
                    return grace
                } catch {
                    self.outageStart.withLock { $0.graceFailed() }
                    throw error
                }
            }
            if let ended {
                self.logger.notice(
                    "consul outage ended",
                    metadata: [
                        "consul": "\(self.configuration.address)",
                        "outage_ms": "\(ended.length.wholeMilliseconds)",
                        "grace_ms": "\(ended.grace.wholeMilliseconds)",
                    ]
                )
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .unavailable("ending an outage of \(self.client.storeName) failed", underlying: error)
        }
    }

    /// Grants outage grace for an outage that began at `outageStart` (registry ms); returns
    /// the grace granted.
    ///
    /// Round trips: one consistent recursive read of the prefix (the relays, the agents and
    /// `grace-until` in one snapshot), then one `/v1/txn` per 64 writes: `grace-until` and
    /// every entry to extend, each a `cas` on the ModifyIndex it was read at (see
    /// ``ConsulGracePlan``). The first transaction carries the `grace-until` update: when
    /// its `cas` fails, another replica granted grace meanwhile, and the step starts again
    /// from a fresh read (at most ``maximumAttempts`` times). An entry whose `cas` fails was
    /// renewed, moved or removed meanwhile (by another replica): it is skipped, its new
    /// deadline wins, and the rest of its transaction is sent again.
    ///
    /// Atomic per transaction, not as a whole: between two chunks, another replica can judge
    /// (or its sweeper delete) an entry of a later chunk by its unextended deadline, and if
    /// this replica fails or Consul becomes unreachable after the first chunk, the entries
    /// of the chunks not written never get this outage's grace (`grace-until` already says it
    /// was granted). With up to 63 entries everything is one transaction.
    func grantGrace(outageStartedAt outageStart: Int64) async throws -> Duration {
        let bound = max(self.configuration.outageGraceMax.wholeMilliseconds, 0)
        guard bound > 0 else { return .zero }
        for _ in 0..<self.maximumAttempts {
            let entries = try await self.client.list(prefix: self.keys.prefix, consistent: true)
            // Read after Consul answered: a step begun while it was still down must not
            // end the outage early.
            let now = self.clock.now().rawValue
            let plan = ConsulGracePlan(
                outageStart: outageStart,
                now: now,
                bound: bound,
                graceUntil: entries.first { $0.key == self.keys.graceUntil },
                contents: ConsulRegistryContents(entries: entries, keys: self.keys, coder: self.coder)
            )
            guard plan.grantsGrace else {
                self.logger.info(
                    "outage grace already granted by another replica",
                    metadata: ["consul": "\(self.configuration.address)", "outage_start_unix_ms": "\(outageStart)"]
                )
                return .zero
            }
            let writes = try plan.writes(keys: self.keys, coder: self.coder)
            let chunks = writes.chunked(into: Self.maximumTransactionOperations)
            guard let first = chunks.first else { return .zero }
            guard var extended = try await self.write(first) else {
                continue  // another replica granted grace meanwhile
            }
            let rest = try await self.concurrently(Array(chunks.dropFirst())) { chunk in
                try await self.write(chunk) ?? GraceWritten()
            }
            for written in rest {
                extended.relays += written.relays
                extended.agents += written.agents
            }
            self.logger.info(
                "outage grace granted",
                metadata: [
                    "consul": "\(self.configuration.address)",
                    "grace_ms": "\(plan.grace)",
                    "relays": "\(extended.relays)",
                    "agents": "\(extended.agents)",
                ]
            )
            return .milliseconds(plan.grace)
        }
        throw RegistryError.unavailable(
            "could not apply outage grace: \(self.client.storeName) reported conflicting grants \(self.maximumAttempts) times"
        )
    }

    /// Writes one chunk in one transaction, dropping the entries Consul reports changed and
    /// sending the rest again. Returns what it extended, or nil when the chunk's `grace-until`
    /// `cas` failed (another replica granted grace meanwhile; nothing was written).
    private func write(_ chunk: [ConsulGracePlan.Write]) async throws -> GraceWritten? {
        var remaining = chunk
        // Each round either commits or drops at least one write named in Errors.
        while !remaining.isEmpty {
            switch try await self.client.transaction(remaining.map(\.operation)) {
            case .applied:
                return GraceWritten(
                    relays: remaining.count { $0.target == .relay },
                    agents: remaining.count { $0.target == .agent }
                )
            case .rolledBack(let failures):
                let failed = Set(failures.map(\.opIndex))
                guard !failed.isEmpty, failed.allSatisfy({ remaining.indices.contains($0) }) else {
                    throw RegistryError.unavailable(
                        "\(self.client.storeName) rolled back an outage grace transaction without saying why: \(failures)"
                    )
                }
                if failed.contains(where: { remaining[$0].target == .graceUntil }) {
                    return nil
                }
                remaining = remaining.enumerated().filter { !failed.contains($0.offset) }.map(\.element)
            }
        }
        return GraceWritten()
    }

    /// Records an attempt that could not reach Consul (it started at `started`, and at
    /// `registryStarted` in registry time) as evidence of an outage, and reports NOT_SERVING
    /// since then, logging the first failure of an outage.
    func markUnreachable(because reason: String, startedAt started: ContinuousClock.Instant, registryStarted: Int64) {
        // Registry time first: a grace step that takes the tracker's outage then finds its start.
        self.outageStart.withLock { $0.recordFailure(startedAt: registryStarted) }
        self.outages.recordFailure(startedAt: started)
        let wasServing = self.health.status.isServing
        self.health.report(.notServing(reason: reason), since: started)
        if wasServing {
            self.logger.error(
                "consul is unreachable; requests fail with UNAVAILABLE until it answers again",
                metadata: ["consul": "\(self.configuration.address)", "error": "\(reason)"]
            )
        }
    }
}

/// How many entries a grace transaction extended.
struct GraceWritten: Sendable {
    var relays = 0
    var agents = 0
}

extension RegistryError {
    /// Whether this failure shows that Consul could not be reached or could not serve
    /// (a transport failure, a timeout, 5xx, 429 or 403): evidence of an outage. Failures
    /// that prove Consul answered (a write that kept losing races, an answer the registry
    /// cannot read) are not.
    var showsConsulUnreachable: Bool {
        guard self.code == .unavailable, let underlying = self.underlying else { return false }
        return !(underlying is DecodingError)
    }
}
