public import ArgumentParser

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

    public init() {}
}

/// Connection settings for the redis backend.
public struct RedisSettings: Sendable, Equatable {
    public var host: String = "localhost"
    public var port: Int = 6379
    public var user: String = "default"
    public var password: String?
    public var database: Int = 0

    public init(host: String = "localhost", port: Int = 6379, user: String = "default", password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    init(options: RedisOptions, settings: SettingResolver, warnings: inout [String]) throws(ConfigurationError) {
        self.host = settings.string("redis-addr", options.redisAddr, default: "localhost")
        self.port = try settings.integer("redis-port", options.redisPort, default: 6379, range: 1...65535)
        self.user = settings.string("redis-user", options.redisUser, default: "default")
        self.password = settings.raw("redis-password", options.redisPassword)?.value
        self.database = try settings.integer("redis-db", options.redisDB, default: 0, range: 0...Int(Int32.max))
        if options.redisPassword != nil {
            warnings.append(
                "--redis-password on the command line is visible to other users of this machine; set \(SettingResolver.environmentName(of: "redis-password")) instead"
            )
        }
    }
}
