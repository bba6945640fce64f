import Logging
import RESP
import RegistryCore

extension RedisBackend {
    /// Closes an open outage before any other script runs: grants outage grace in Redis
    /// (one script, see ``RedisScripts/applyOutageGrace``) and logs the outage's end. With
    /// grace off it only logs. Fails `unavailable` while Redis still cannot be reached.
    func endOutageIfOpen() async throws(RegistryError) {
        guard self.outages.isOpen else { return }
        do {
            let ended = try await self.outages.beforeOperation { [self] since in
                try await self.grantGrace(forOutageSince: since)
            }
            if let ended {
                self.logger.notice(
                    "redis outage ended",
                    metadata: [
                        "redis": "\(self.peer)",
                        "outage_ms": "\(ended.length.wholeMilliseconds)",
                        "grace_ms": "\(ended.grace.wholeMilliseconds)",
                    ]
                )
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .unavailable("ending an outage of \(self.peer) failed", underlying: error)
        }
    }

    /// Runs the grace script; returns the grace granted. A PING first waits for Redis to
    /// answer, so that the outage's length is measured when it is over, not when this
    /// step began (a step begun during the outage would under-count it).
    private func grantGrace(forOutageSince since: ContinuousClock.Instant) async throws(RegistryError) -> Duration {
        let bound = max(self.configuration.outageGraceMax.wholeMilliseconds, 0)
        guard bound > 0 else { return .zero }
        let started = ContinuousClock.now
        do {
            _ = try await self.pool.send(PingCommand())
        } catch {
            throw self.failed("apply outage grace", error, startedAt: started)
        }
        let length = ContinuousClock.now - since
        let values = try await self.evaluateUngated(
            RedisScripts.applyOutageGrace,
            key: self.schema.relaysIndex,
            [
                RESPArgument(max(length.wholeMilliseconds, 0)),
                RESPArgument(bound),
                RESPArgument(self.ttl.relayTTLMilliseconds),
                RESPArgument(self.ttl.agentTTLMilliseconds),
                RESPArgument(self.marginMilliseconds),
            ],
            operation: "apply outage grace"
        )
        guard values.count == 5, let grace = values[2].int64, let relays = values[3].int64, let agents = values[4].int64 else {
            throw ScriptReply(values: values, script: "apply outage grace").unexpected()
        }
        self.logger.info(
            "outage grace granted",
            metadata: ["redis": "\(self.peer)", "grace_ms": "\(grace)", "relays": "\(relays)", "agents": "\(agents)"]
        )
        return .milliseconds(grace)
    }
}
