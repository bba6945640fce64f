public import ArgumentParser
import RegistryBackendRedis
import RegistryCore

/// The redis backend's flags (the Go registry's names).
public struct RedisOptions: ParsableArguments {
    @Option(name: .customLong("redis-addr"), help: help("Redis host.", "localhost", "redis-addr"))
    public var redisAddr: String?

    @Option(name: .customLong("redis-port"), help: help("Redis port.", "6379", "redis-port"))
    public var redisPort: String?

    @Option(name: .customLong("redis-user"), help: help("Redis ACL user name.", "default", "redis-user"))
    public var redisUser: String?

    @Option(name: .customLong("redis-password"), help: help("Redis password; prefer the environment variable, as other users can see command lines.", nil, "redis-password"))
    public var redisPassword: String?

    @Option(name: .customLong("redis-db"), help: help("Redis database number.", "0", "redis-db"))
    public var redisDB: String?

    @Option(name: .customLong("redis-pool-size"), help: help("Most connections open to Redis at once (each pipelines requests).", "4", "redis-pool-size"))
    public var redisPoolSize: String?

    @Option(name: .customLong("redis-timeout"), help: help("How long connecting or a command may take before the RPC fails with UNAVAILABLE.", "2s", "redis-timeout"))
    public var redisTimeout: String?

    @Option(name: .customLong("redis-key-prefix"), help: help("Put in front of every key, so that several registries can share one Redis.", "none", "redis-key-prefix"))
    public var redisKeyPrefix: String?

    public init() {}
}

/// Connection settings for the redis backend.
public struct RedisSettings: Sendable, Equatable {
    public var host: String = "localhost"
    public var port: Int = 6379
    public var user: String = "default"
    public var password: String?
    public var database: Int = 0
    /// The most connections open at once.
    public var poolSize: Int = 4
    /// How long connecting or one command may take.
    public var timeout: Duration = .seconds(2)
    /// Put in front of every key.
    public var keyPrefix: String = ""

    /// The accepted range of ``poolSize``.
    public static let poolSizeRange = 1...256
    /// The accepted range of ``timeout``.
    public static let timeoutRange: ClosedRange<Duration> = .milliseconds(10) ... .seconds(60)

    public init(
        host: String = "localhost",
        port: Int = 6379,
        user: String = "default",
        password: String? = nil,
        database: Int = 0,
        poolSize: Int = 4,
        timeout: Duration = .seconds(2),
        keyPrefix: String = ""
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.timeout = timeout
        self.keyPrefix = keyPrefix
    }

    init(options: RedisOptions, settings: SettingResolver, warnings: inout [String]) throws(ConfigurationError) {
        self.host = settings.string("redis-addr", options.redisAddr, default: "localhost")
        self.port = try settings.integer("redis-port", options.redisPort, default: 6379, range: 1...65535)
        self.user = settings.string("redis-user", options.redisUser, default: "default")
        self.password = settings.raw("redis-password", options.redisPassword)?.value
        self.database = try settings.integer("redis-db", options.redisDB, default: 0, range: 0...Int(Int32.max))
        self.poolSize = try settings.integer("redis-pool-size", options.redisPoolSize, default: 4, range: Self.poolSizeRange)
        self.timeout = try settings.duration("redis-timeout", options.redisTimeout, default: .seconds(2), range: Self.timeoutRange)
        self.keyPrefix = settings.string("redis-key-prefix", options.redisKeyPrefix, default: "")
        do {
            _ = try RedisKeySchema(prefix: self.keyPrefix)
        } catch {
            let origin = settings.raw("redis-key-prefix", options.redisKeyPrefix)?.origin ?? "--redis-key-prefix"
            throw ConfigurationError("invalid \(origin) '\(self.keyPrefix)': \(error.message)")
        }
        if self.password == nil, self.user != "default" {
            warnings.append("--redis-user \(self.user) has no effect without a password (--redis-password or \(SettingResolver.environmentName(of: "redis-password")))")
        }
        if options.redisPassword != nil {
            warnings.append(
                "--redis-password on the command line is visible to other users of this machine; set \(SettingResolver.environmentName(of: "redis-password")) instead"
            )
        }
    }
}
