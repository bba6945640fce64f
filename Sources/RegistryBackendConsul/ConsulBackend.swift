public import Logging
public import RegistryCore
import ServiceLifecycle
import Synchronization

/// The registry in HashiCorp Consul's KV store, over Consul's HTTP API v1.
///
/// Each relay and agent is one key holding a JSON record with its last heartbeat and its
/// deadline (see ``ConsulKeySchema``). Liveness is evaluated on every read against the
/// deadlines and this backend's clock, so it is exact whatever Consul's own timers do;
/// replicas sharing a Consul must therefore keep their clocks synchronised (NTP).
/// A relay's incarnation is its key's CreateIndex; an agent records the incarnation it was
/// placed on and is live only while that incarnation of its relay is.
///
/// Every change is one conditional write: a `PUT ?cas=` for a single key, or one
/// `/v1/txn` whose `cas`, `check-index` and `delete-cas` operations check every entry it
/// read, so concurrent replicas cannot interleave a move with a heartbeat or a removal.
/// A write that loses a race is retried from a fresh read a bounded number of times.
/// The fleet calls batch these: a sync is a relay txn and agent txns of up to 62 agents
/// (Consul takes 64 operations per txn), each agent's write still conditional on its own
/// ModifyIndex and on the relay's.
///
/// Expired entries stay until ``removeExpired(limit:)`` (run by the server's
/// ``ExpirySweeper``) deletes them, each with `delete-cas` on the ModifyIndex it was judged
/// by, so an entry renewed in the meantime is never removed.
///
/// Failures: every request has the configured timeout; timeouts, refused connections, 5xx
/// and 429 answers become `unavailable` naming Consul's address, and turn ``health``
/// NOT_SERVING until Consul answers again (``run()`` probes it periodically).
///
/// Outage grace (``ConsulConfiguration/outageGraceMax``): such failures, of requests or of
/// the health probe, open an outage; the first operation after it extends, in Consul, the
/// deadline of every entry live when it began and not renewed since, before anything is
/// judged or swept (see `ConsulBackend+Grace.swift`).
///
/// Generic over its clock so that tests move time instead of sleeping.
public final class ConsulBackend<Clock: WallClock>: RegistryBackend {
    public let ttl: TTLPolicy
    public let limits: CapacityLimits
    public let expiry = ExpiryMode.sweep
    public let health = HealthReporter(.notServing(reason: "not connected to Consul yet"))
    public let configuration: ConsulConfiguration

    let clock: Clock
    let client: ConsulClient
    let keys: ConsulKeySchema
    let coder = ConsulRecordCoder()
    let logger: Logger
    let capacity: ConsulCapacityGuard
    let sweep = Mutex(ConsulSweepQueue())
    let sweepLock: ConsulSweepLock
    /// This replica's outages of Consul, for outage grace.
    let outages = OutageTracker()
    public var outageTracker: OutageTracker? { self.outages }
    /// When the open outage began in registry time (see ``ConsulOutageStart``).
    let outageStart = Mutex(ConsulOutageStart())
    /// How many times a write that lost a race is tried from a fresh read.
    let maximumAttempts = 16
    private let closed = Mutex(false)

    /// Builds the backend and its HTTP client; connects lazily, on the first request.
    /// - Throws: `invalidArgument` when the CA file cannot be read.
    public init(
        configuration: ConsulConfiguration,
        ttl: TTLPolicy,
        limits: CapacityLimits = CapacityLimits(),
        clock: Clock,
        logger: Logger
    ) throws(RegistryError) {
        self.configuration = configuration
        self.ttl = ttl
        self.limits = limits
        self.clock = clock
        self.logger = logger
        self.client = try ConsulClient(configuration: configuration, logger: logger)
        self.keys = ConsulKeySchema(prefix: configuration.keyPrefix)
        self.capacity = ConsulCapacityGuard(limits: limits)
        self.sweepLock = ConsulSweepLock(scanInterval: .milliseconds(Self.scanInterval(ttl)))
    }

    deinit {
        // A backend built but never run nor closed (say, a server that failed to start)
        // must still release its HTTP client.
        if !self.closed.withLock({ $0 }) {
            self.client.shutdownInBackground()
        }
    }

    /// Probes Consul's leader every ``ConsulConfiguration/healthProbeInterval`` to keep
    /// ``health`` current, until graceful shutdown; then gives up the sweeper lock and closes
    /// the HTTP client.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await self.probe()
            do {
                try await cancelWhenGracefulShutdown {
                    try await Task.sleep(for: self.configuration.healthProbeInterval)
                }
            } catch {
                break
            }
        }
        await self.close()
    }

    /// Gives up the sweeper lock and closes the HTTP client, if ``run()`` did not; later
    /// requests fail. Idempotent.
    public func close() async {
        let first = self.closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        if first {
            await self.sweepLock.release(client: self.client, logger: self.logger)
            await self.client.shutdown()
        }
    }

    /// Deletes every key under the key prefix: the whole registry this backend sees. Tests
    /// clean up with it; nothing in the server calls it.
    public func removeAllEntries() async throws {
        try await self.client.deleteAll(prefix: self.keys.prefix)
    }

    /// Asks Consul for its leader once and reports the answer as health.
    /// A failed probe is evidence of an outage (for outage grace), as a failed request is.
    public func probe() async {
        let started = ContinuousClock.now
        let registryStarted = self.clock.now().rawValue
        do {
            if try await self.client.leader() == nil {
                let reason = "\(self.client.storeName) has no leader"
                self.markUnreachable(because: reason, startedAt: started, registryStarted: registryStarted)
            } else {
                self.health.report(.serving)
            }
        } catch let error as RegistryError where error.showsConsulUnreachable {
            self.markUnreachable(because: error.message, startedAt: started, registryStarted: registryStarted)
        } catch let error as RegistryError {
            self.health.report(.notServing(reason: error.message))
        } catch {
            self.health.report(.notServing(reason: "\(self.client.storeName) failed: \(error)"))
        }
    }

    // MARK: Helpers for the operations

    /// Runs an operation, reporting Consul's availability as seen by it: the choke point of
    /// every operation. An open outage is ended first (outage grace, ``endOutageIfOpen()``);
    /// a failure that shows Consul unreachable is recorded as evidence of an outage.
    func reporting<Result>(_ body: () async throws -> Result) async throws -> Result {
        let started = ContinuousClock.now
        let registryStarted = self.clock.now().rawValue
        do {
            try await self.endOutageIfOpen()
            let result = try await body()
            self.health.report(.serving)
            return result
        } catch let error as RegistryError where error.showsConsulUnreachable {
            self.markUnreachable(because: error.message, startedAt: started, registryStarted: registryStarted)
            throw error
        } catch let error as RegistryError where error.code == .unavailable {
            self.health.report(.notServing(reason: error.message))
            throw error
        }
    }

    /// Runs `attempt` until it returns a value; nil means a conditional write lost a race.
    /// Retries read with `?consistent`, after a short random pause.
    func retrying<Result>(
        _ operation: String,
        _ attempt: (_ retry: Bool) async throws -> Result?
    ) async throws -> Result {
        for number in 0..<self.maximumAttempts {
            if let result = try await attempt(number > 0) {
                return result
            }
            let ceiling = min(1 << number, 50)
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...ceiling)))
        }
        throw RegistryError.unavailable(
            "could not \(operation): \(self.client.storeName) reported conflicting concurrent changes \(self.maximumAttempts) times"
        )
    }

    /// The deadline of an entry renewed at `now`.
    func relayDeadline(_ now: Int64) -> Int64 { now + self.ttl.relayTTLMilliseconds }
    func agentDeadline(_ now: Int64) -> Int64 { now + self.ttl.agentTTLMilliseconds }
}

extension ConsulBackend: CustomStringConvertible {
    public var description: String { "ConsulBackend(\(self.configuration.address), prefix: \(self.configuration.keyPrefix))" }
}

extension ConsulBackend where Clock == SystemWallClock {
    /// A backend on the system clock.
    public convenience init(
        configuration: ConsulConfiguration,
        ttl: TTLPolicy,
        limits: CapacityLimits = CapacityLimits(),
        logger: Logger
    ) throws(RegistryError) {
        try self.init(configuration: configuration, ttl: ttl, limits: limits, clock: SystemWallClock(), logger: logger)
    }
}
