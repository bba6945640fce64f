public import RESP
public import RegistryCore

/// Where the Redis backend's server is, how it connects, and how it keeps its keys.
public struct RedisBackendConfiguration: Sendable {
    /// Host name or IP address of the Redis server.
    public var host: String
    public var port: Int
    /// An ACL user (Redis 6 and later); nil or `default` for the default user.
    public var username: String?
    public var password: String?
    /// The logical database.
    public var database: Int
    /// The most connections open to Redis at once (each pipelines many requests).
    public var poolSize: Int
    /// How long connecting or any one command may take before the request fails with
    /// `unavailable`.
    public var timeout: Duration
    /// Put in front of every key, so that several registries can share one Redis.
    public var keyPrefix: String
    /// How long past its deadline an entry's keys stay in Redis before Redis deletes them
    /// (liveness never depends on it: reads compare deadlines).
    public var garbageCollectionMargin: Duration
    /// How often ``RedisBackend/run()`` checks that Redis answers, and prunes the indexes.
    public var maintenanceInterval: Duration
    /// How many index entries one list script reads; for the fleet's paged lists, how many
    /// entries that are no longer live one script reads beyond the page.
    public var listPageSize: Int
    /// How connection attempts back off after failures.
    public var backoff: ReconnectBackoff
    /// Where the scripts read the time.
    public var timeSource: RedisTimeSource
    /// The most an outage of Redis extends the deadlines of entries live when it began
    /// (docs/degraded-operation.md); zero turns outage grace off. Keys also stay this much
    /// longer in Redis, so that its own expiry never removes an entry grace could still save.
    public var outageGraceMax: Duration

    public init(
        host: String = "localhost",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        poolSize: Int = 4,
        timeout: Duration = .seconds(2),
        keyPrefix: String = "",
        garbageCollectionMargin: Duration = .seconds(5),
        maintenanceInterval: Duration = .seconds(1),
        listPageSize: Int = 1000,
        backoff: ReconnectBackoff = ReconnectBackoff(initial: .milliseconds(50), maximum: .seconds(2)),
        timeSource: RedisTimeSource = .server,
        outageGraceMax: Duration = .zero
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.timeout = timeout
        self.keyPrefix = keyPrefix
        self.garbageCollectionMargin = garbageCollectionMargin
        self.maintenanceInterval = maintenanceInterval
        self.listPageSize = listPageSize
        self.backoff = backoff
        self.outageGraceMax = outageGraceMax
        self.timeSource = timeSource
    }

    /// The connection settings of the pool.
    var connection: RESPConnectionConfiguration {
        RESPConnectionConfiguration(
            host: self.host,
            port: self.port,
            username: self.username,
            password: self.password,
            database: self.database,
            connectTimeout: self.timeout,
            commandTimeout: self.timeout
        )
    }
}

/// Where the Redis backend's scripts read "now".
public enum RedisTimeSource: Sendable {
    /// The Redis server's clock (`TIME`), so that every replica agrees: always in production.
    case server
    /// **For tests only**: every script uses this clock's time instead of `TIME`, so that a
    /// test moves time to the millisecond without sleeping. Redis's own key expiry still
    /// runs on real time, which is why it must only collect what is long dead (see
    /// ``RedisBackendConfiguration/garbageCollectionMargin``).
    case fixed(any WallClock)
    /// **For tests only**: the server's `TIME` plus this offset, so that a test moves time
    /// forward at once while the scripts still read the server's clock. Real time passes
    /// too, so this is no more exact than `TIME` itself.
    case shiftedServer(offset: @Sendable () -> Duration)
}
