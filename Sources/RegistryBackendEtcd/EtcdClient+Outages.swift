import Logging
import RegistryCore

extension EtcdClient {
    /// Closes an outage before any other call runs: given when the outage began on this
    /// replica's monotonic clock, returns the grace it granted.
    typealias OutageStep = @Sendable (_ since: ContinuousClock.Instant, _ client: EtcdClient) async throws -> Duration

    /// Closes an open outage before the call that found it runs: runs ``outageStep`` once
    /// (concurrent calls wait for it, see ``OutageTracker``) and logs the outage's end.
    /// Fails `unavailable` while etcd still cannot be reached.
    func endOutageIfOpen() async throws {
        guard self.outages.isOpen else { return }
        let step = self.outageStep
        do {
            // Logged inside the step: it runs once, however many calls wait for it.
            try await self.outages.beforeOperation { [self] since in
                var grace = Duration.zero
                if let step {
                    grace = try await step(since, self)
                }
                self.logger.notice(
                    "etcd outage ended",
                    metadata: [
                        "etcd": "\(self.configuration.endpointsDescription)",
                        "outage_ms": "\((ContinuousClock.now - since).wholeMilliseconds)",
                        "grace_ms": "\(grace.wholeMilliseconds)",
                    ]
                )
                return grace
            }
        } catch let error as RegistryError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RegistryError.unavailable("ending an outage of \(self.storeDescription) failed", underlying: error)
        }
    }
}
