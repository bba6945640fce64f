import Logging
import RESP
import RegistryCore

extension RedisBackend {
    /// Runs a single-entry script, whose reply starts with a status and the script's time.
    func evaluate(
        _ script: RESPScript,
        key: String,
        _ arguments: [RESPArgument],
        operation: String
    ) async throws(RegistryError) -> ScriptReply {
        let values = try await self.evaluateRaw(script, key: key, arguments, operation: operation)
        let reply = ScriptReply(values: values, script: operation)
        guard values.count >= 2, values[1].int64 != nil else {
            throw reply.unexpected()
        }
        return reply
    }

    /// Runs a script with the shared arguments (namespace, time) in front of `arguments`,
    /// keeping ``health`` up to date and translating failures to ``RegistryError``. An open
    /// outage is ended first (outage grace).
    func evaluateRaw(
        _ script: RESPScript,
        key: String,
        _ arguments: [RESPArgument],
        operation: String
    ) async throws(RegistryError) -> [RESPValue] {
        try await self.endOutageIfOpen()
        return try await self.evaluateUngated(script, key: key, arguments, operation: operation)
    }

    /// ``evaluateRaw(_:key:_:operation:)`` without ending an open outage first: for the
    /// grace step itself.
    func evaluateUngated(
        _ script: RESPScript,
        key: String,
        _ arguments: [RESPArgument],
        operation: String
    ) async throws(RegistryError) -> [RESPValue] {
        let started = ContinuousClock.now
        let reply: RESPValue
        do {
            reply = try await self.pool.evaluate(script, keys: [RESPArgument(key)], arguments: self.sharedArguments + arguments)
        } catch {
            throw self.failed(operation, error, startedAt: started)
        }
        self.markReachable()
        guard let values = reply.array else {
            throw ScriptReply(values: [reply], script: operation).unexpected()
        }
        return values
    }

    /// `ARGV[1]` and `ARGV[2]` of every script: the namespace and the pinned time, if any.
    var sharedArguments: [RESPArgument] {
        let time: RESPArgument =
            switch self.configuration.timeSource {
            case .server: ""
            case .fixed(let clock): RESPArgument(clock.now().rawValue)
            case .shiftedServer(let offset): RESPArgument("+\(max(offset().wholeMilliseconds, 0))")
            }
        return [RESPArgument(self.schema.root), time]
    }

    /// The registry's error for a failed script, updating health when Redis cannot serve.
    func failed(_ operation: String, _ error: RESPError, startedAt started: ContinuousClock.Instant) -> RegistryError {
        switch error.code {
        case .serverError:
            // Script bugs and foreign data in our keys surface as ERR / WRONGTYPE: not
            // something retrying fixes. Anything else (LOADING, BUSY, OOM, READONLY,
            // MISCONF, NOAUTH, ...) means the server cannot serve right now.
            if let prefix = error.serverErrorPrefix, prefix == "ERR" || prefix == "WRONGTYPE" {
                self.logger.error("redis script failed", metadata: ["operation": "\(operation)", "error": "\(error.message)"])
                return .internalError("\(operation): \(self.peer) rejected the script", underlying: error)
            }
            self.markUnreachable(because: "\(self.peer) answered \(error.message)", startedAt: started)
            return .unavailable("\(operation) failed: \(self.peer) answered \(error.message)", underlying: error)
        case .unexpectedResponse:
            return .internalError("\(operation): \(error.message)", underlying: error)
        default:
            self.markUnreachable(because: error.message, startedAt: started)
            return .unavailable("\(operation) failed: \(error.message)", underlying: error)
        }
    }

    /// Reports SERVING after Redis answered, logging the recovery once.
    func markReachable() {
        guard case .notServing = self.health.status else { return }
        self.health.report(.serving)
        self.logger.info("redis is reachable; serving", metadata: ["redis": "\(self.peer)"])
    }

    /// Reports NOT_SERVING, logging the first failure of an outage, and records the
    /// failed attempt as evidence of an outage.
    func markUnreachable(because reason: String, startedAt started: ContinuousClock.Instant) {
        self.outages.recordFailure(startedAt: started)
        let status = HealthReporter.Status.notServing(reason: "\(self.peer) is unreachable")
        guard self.health.status != status else { return }
        self.health.report(status, since: started)
        self.logger.error(
            "redis is unreachable; requests fail with UNAVAILABLE until it answers again",
            metadata: ["redis": "\(self.peer)", "error": "\(reason)"]
        )
    }
}
