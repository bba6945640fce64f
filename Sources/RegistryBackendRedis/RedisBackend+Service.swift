import Logging
import RESP
import RegistryCore
import ServiceLifecycle

extension RedisBackend {
    /// Checks on Redis until graceful shutdown: a `PING` every maintenance interval keeps
    /// ``health`` current (so it recovers without traffic), and index pruning removes
    /// entries whose deadlines passed. At startup an unreachable Redis is logged and
    /// reported NOT_SERVING, and the checks keep retrying. Closes the connections at the end.
    public func run() async throws {
        self.logger.info(
            "using redis",
            metadata: ["redis": "\(self.peer)", "database": "\(self.configuration.database)", "key_root": "\(self.schema.root)"]
        )
        await self.checkReachable()
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown {
                    try await Task.sleep(for: self.configuration.maintenanceInterval)
                }
            } catch {
                break
            }
            if Task.isShuttingDownGracefully { break }
            await self.checkReachable()
            if self.health.status.isServing {
                await self.pruneIndexes()
            }
        }
        await self.close()
    }

    /// Closes the connections; later requests fail with `unavailable`. Safe to call more than once.
    public func close() async {
        await self.pool.close()
    }

    /// Sends a `PING`, updating ``health``.
    func checkReachable() async {
        let started = ContinuousClock.now
        do {
            _ = try await self.pool.send(PingCommand())
            self.markReachable()
        } catch {
            _ = self.failed("ping", error, startedAt: started)
        }
    }

    /// Prunes expired index entries, a bounded number of batches per call.
    func pruneIndexes() async {
        let batch = 1000
        do {
            for _ in 0..<10 {
                let report = try await self.removeExpired(limit: batch)
                self.metrics.expired(relays: report.relaysRemoved, agents: report.agentsRemoved)
                if report.total < batch { break }
            }
        } catch {
            self.logger.debug("index pruning failed; retrying next interval", metadata: ["error": "\(error)"])
        }
    }
}
