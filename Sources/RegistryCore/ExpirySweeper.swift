public import Logging
public import ServiceLifecycle

/// Removes expired relays and agents from a backend that does not expire them itself.
///
/// Reads never depend on it (every read checks liveness itself); it only keeps memory
/// and storage from filling with dead entries. Each pass asks the backend for batches
/// of at most ``batchSize`` removals until one comes back short, yielding between
/// batches so that RPCs keep being served. Passes run every ``interval``, randomly
/// shortened or lengthened by up to ``jitter`` of it so that replicas spread out.
public struct ExpirySweeper: Service {
    public let backend: any RegistryBackend
    public let interval: Duration
    public let jitter: Double
    public let batchSize: Int
    private let metrics: RegistryMetrics
    private let logger: Logger

    public init(
        backend: any RegistryBackend,
        interval: Duration = .seconds(1),
        jitter: Double = 0.1,
        batchSize: Int = 1_000,
        metrics: RegistryMetrics = .disabled,
        logger: Logger
    ) {
        self.backend = backend
        self.metrics = metrics
        self.interval = interval
        self.jitter = min(max(jitter, 0), 1)
        self.batchSize = max(batchSize, 1)
        self.logger = logger
    }

    /// Sweeps until graceful shutdown or cancellation. A failed pass is logged and retried
    /// at the next interval.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown {
                    try await Task.sleep(for: self.nextDelay())
                }
            } catch {
                return
            }
            if Task.isShuttingDownGracefully { return }
            do {
                _ = try await self.sweep()
            } catch is CancellationError {
                return
            } catch {
                self.logger.warning("expiry sweep failed; retrying next interval", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One pass: removes every entry that is expired now, batch by batch.
    public func sweep() async throws -> ExpiryReport {
        var report = ExpiryReport()
        var busy = Duration.zero
        let clock = ContinuousClock()
        while true {
            try Task.checkCancellation()
            let started = clock.now
            let batch = try await self.backend.removeExpired(limit: self.batchSize)
            busy += clock.now - started
            report += batch
            self.metrics.expired(relays: batch.relaysRemoved, agents: batch.agentsRemoved)
            if batch.total < self.batchSize { break }
            await Task.yield()
        }
        if report.total > 0 {
            // busy_ms: time spent inside the backend's removals, the pass's cost to the server.
            self.logger.debug(
                "removed expired entries",
                metadata: [
                    "relays": "\(report.relaysRemoved)",
                    "agents": "\(report.agentsRemoved)",
                    "busy_ms": "\(Double(busy.components.attoseconds) / 1e15 + Double(busy.components.seconds) * 1000)",
                ]
            )
        }
        return report
    }

    private func nextDelay() -> Duration {
        guard self.jitter > 0 else { return self.interval }
        let factor = 1 + Double.random(in: -self.jitter...self.jitter)
        return self.interval * factor
    }
}

extension ExpirySweeper: CustomStringConvertible {
    public var description: String { "ExpirySweeper(interval: \(self.interval.goDescription))" }
}
