public import Logging
import RESP
public import RegistryCore

/// The Redis backend: relays, agents and placements in a Redis server shared by any
/// number of registry replicas.
///
/// Redis is the single authority for liveness and time. Every operation is one Lua
/// script (``RedisScripts``), so it is atomic and one round trip, and reads the clock
/// with `TIME`. Each relay and agent hash stores its deadline; reads compare deadlines
/// with the script's time, so no read returns an entry that is not live, and hashes
/// carry a native expiry (`PEXPIRE`, deadline plus a margin) so that Redis deletes dead
/// entries by itself even when no registry is running: ``expiry`` is
/// ``ExpiryMode/native``. Sorted-set indexes, scored by deadline, let lists and index
/// pruning touch only what is live or expired. Keys: ``RedisKeySchema``.
///
/// Relays have incarnations: a relay created, or registered again after it expired,
/// gets a fresh number from a Redis counter; each agent records the incarnation it was
/// placed on, and is live only while that incarnation is.
///
/// Failure: a request that cannot reach Redis, or gets no answer within the configured
/// timeout, fails with `unavailable` naming the server, and ``health`` turns NOT_SERVING
/// until a request or the periodic check in ``run()`` gets an answer again.
/// Connections open on demand, so requests work whether or not ``run()`` is running;
/// ``run()`` adds the health check, index pruning and closing the connections at shutdown.
public final class RedisBackend: RegistryBackend {
    public let ttl: TTLPolicy
    public let limits: CapacityLimits
    public let expiry = ExpiryMode.native
    public let health: HealthReporter
    /// Where the keys are.
    public let schema: RedisKeySchema
    public let configuration: RedisBackendConfiguration
    let pool: RESPConnectionPool
    let logger: Logger
    /// This replica's outages of Redis, for outage grace.
    let outages = OutageTracker()
    public var outageTracker: OutageTracker? { self.outages }
    /// Where expiries found by index pruning are counted (Redis deletes the keys itself,
    /// so pruning is where this replica learns of them; each is pruned, and counted, by
    /// one replica only).
    let metrics: RegistryMetrics

    /// Builds the backend without connecting: the first request or ``run()`` connects.
    /// - Throws: `invalidArgument` when the key prefix is not acceptable.
    public init(
        configuration: RedisBackendConfiguration,
        ttl: TTLPolicy,
        limits: CapacityLimits = CapacityLimits(),
        metrics: RegistryMetrics = .disabled,
        logger: Logger
    ) throws(RegistryError) {
        self.schema = try RedisKeySchema(prefix: configuration.keyPrefix)
        self.metrics = metrics
        self.configuration = configuration
        self.ttl = ttl
        self.limits = limits
        self.logger = logger
        self.pool = RESPConnectionPool(
            configuration: RESPConnectionPool.Configuration(
                connection: configuration.connection,
                size: configuration.poolSize,
                backoff: configuration.backoff
            ),
            logger: logger
        )
        self.health = HealthReporter(.notServing(reason: "not connected to \(configuration.connection.peerDescription) yet"))
    }

    /// "redis at host:port".
    public var peer: String { self.pool.peer }

    // MARK: Relays

    public func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult {
        let id = registration.id
        let reply = try await self.evaluate(
            RedisScripts.registerRelay,
            key: self.schema.relayKey(id),
            [
                RESPArgument(RedisKeySchema.encode(id)),
                RESPArgument(registration.endpoint.address),
                RESPArgument(registration.endpoint.grpcPort),
                RESPArgument(self.ttl.relayTTLMilliseconds),
                RESPArgument(self.limits.maxRelays),
                RESPArgument(self.marginMilliseconds),
            ],
            operation: "register relay"
        )
        let outcome: RelayRegistrationResult.Outcome
        switch reply.status {
        case "renewed": outcome = .renewed
        case "created": outcome = .created
        case "recreated": outcome = .recreated
        case "full":
            throw RegistryError.resourceExhausted("relay limit of \(self.limits.maxRelays) reached; relay \(id) was not registered")
        default:
            throw reply.unexpected()
        }
        let relay = Relay(id: id, endpoint: registration.endpoint, lastHeartbeat: reply.now)
        return RelayRegistrationResult(relay: relay, outcome: outcome)
    }

    public func heartbeatRelay(_ id: RelayID) async throws -> Relay {
        let reply = try await self.evaluate(
            RedisScripts.heartbeatRelay,
            key: self.schema.relayKey(id),
            [RESPArgument(RedisKeySchema.encode(id)), RESPArgument(self.ttl.relayTTLMilliseconds), RESPArgument(self.marginMilliseconds)],
            operation: "heartbeat relay"
        )
        switch reply.status {
        case "ok":
            guard let address = reply.string(at: 2), let port = reply.integer(at: 3),
                let endpoint = try? RelayEndpoint(address: address, grpcPort: Int(port))
            else {
                self.logger.warning("relay record in redis is corrupt", metadata: ["relay_id": "\(id)"])
                throw RegistryError.notFound("relay \(id) has an unreadable record; register it again")
            }
            return Relay(id: id, endpoint: endpoint, lastHeartbeat: reply.now)
        case "missing":
            throw RegistryError.notFound("relay \(id) is not registered or has expired; register it again")
        default:
            throw reply.unexpected()
        }
    }

    // MARK: Agents

    public func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult {
        let reply = try await self.evaluate(
            RedisScripts.registerAgent,
            key: self.schema.agentKey(id),
            [
                RESPArgument(RedisKeySchema.encode(id)),
                RESPArgument(RedisKeySchema.encode(relayID)),
                RESPArgument(self.ttl.agentTTLMilliseconds),
                RESPArgument(self.limits.maxAgents),
                RESPArgument(self.marginMilliseconds),
            ],
            operation: "register agent"
        )
        switch reply.status {
        case "ok":
            let previous = reply.string(at: 2).flatMap { $0.isEmpty ? nil : RedisKeySchema.relayID($0) }
            let placement = AgentPlacement(agentID: id, relayID: relayID, lastUpdated: reply.now)
            return AgentRegistrationResult(placement: placement, previousRelayID: previous)
        case "no-relay":
            throw RegistryError.notFound("relay \(relayID) is not registered or has expired; agent \(id) was not registered")
        case "draining":
            throw RegistryError.failedPrecondition("relay \(relayID) is draining and takes no new agents; agent \(id) was not placed on it")
        case "full":
            throw RegistryError.resourceExhausted("agent limit of \(self.limits.maxAgents) reached; agent \(id) was not registered")
        default:
            throw reply.unexpected()
        }
    }

    public func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement {
        let reply = try await self.evaluate(
            RedisScripts.heartbeatAgent,
            key: self.schema.agentKey(id),
            [
                RESPArgument(RedisKeySchema.encode(id)),
                RESPArgument(expectedRelayID.map { RedisKeySchema.encode($0) } ?? ""),
                RESPArgument(self.ttl.agentTTLMilliseconds),
                RESPArgument(self.marginMilliseconds),
            ],
            operation: "heartbeat agent"
        )
        switch reply.status {
        case "ok":
            let relayID = try self.relayID(in: reply, at: 2, agent: id)
            return AgentPlacement(agentID: id, relayID: relayID, lastUpdated: reply.now)
        case "elsewhere":
            let relayID = try self.relayID(in: reply, at: 2, agent: id)
            let expected = expectedRelayID.map(\.rawValue) ?? "?"
            throw RegistryError.notFound("agent \(id) is not placed on relay \(expected); it is on relay \(relayID)")
        case "missing":
            throw RegistryError.notFound("agent \(id) is not registered or has expired; register it again")
        default:
            throw reply.unexpected()
        }
    }

    public func placement(of id: AgentID) async throws -> AgentPlacement {
        let reply = try await self.evaluate(
            RedisScripts.placement,
            key: self.schema.agentKey(id),
            [RESPArgument(RedisKeySchema.encode(id))],
            operation: "look up agent"
        )
        switch reply.status {
        case "ok":
            let relayID = try self.relayID(in: reply, at: 2, agent: id)
            guard let heartbeat = reply.integer(at: 3) else {
                throw RegistryError.notFound("agent \(id) has an unreadable record; register it again")
            }
            return AgentPlacement(agentID: id, relayID: relayID, lastUpdated: UnixMilliseconds(heartbeat))
        case "missing":
            throw RegistryError.notFound("agent \(id) is not registered or has expired")
        default:
            throw reply.unexpected()
        }
    }

    // MARK: Expiry

    /// Index pruning: removes index entries (and any hashes left) of up to about `limit`
    /// relays and agents whose deadlines have passed. Redis deletes expired hashes by itself;
    /// this keeps the indexes small. Never removes an entry renewed in time.
    public func removeExpired(limit: Int) async throws -> ExpiryReport {
        let reply = try await self.evaluateRaw(
            RedisScripts.removeExpired,
            key: self.schema.relaysIndex,
            [RESPArgument(max(limit, 1))],
            operation: "prune indexes"
        )
        guard reply.count == 2, let relays = reply[0].int64, let agents = reply[1].int64 else {
            throw ScriptReply(values: reply, script: "prune indexes").unexpected()
        }
        return ExpiryReport(relaysRemoved: Int(relays), agentsRemoved: Int(agents))
    }

    // MARK: Helpers

    /// How long past its deadline an entry's keys stay in Redis: the configured margin
    /// plus the grace bound, so that Redis' own expiry never removes an entry before
    /// outage grace could extend it.
    var marginMilliseconds: Int64 {
        max(self.configuration.garbageCollectionMargin.wholeMilliseconds, 0)
            + max(self.configuration.outageGraceMax.wholeMilliseconds, 0)
    }

    private func relayID(in reply: ScriptReply, at index: Int, agent: AgentID) throws(RegistryError) -> RelayID {
        guard let encoded = reply.string(at: index), let relayID = RedisKeySchema.relayID(encoded) else {
            self.logger.warning("agent record in redis is corrupt", metadata: ["agent_id": "\(agent)"])
            throw RegistryError.notFound("agent \(agent) has an unreadable record; register it again")
        }
        return relayID
    }
}

extension RedisBackend: CustomStringConvertible {
    public var description: String { "RedisBackend(\(self.peer), prefix: \"\(self.schema.prefix)\")" }
}
