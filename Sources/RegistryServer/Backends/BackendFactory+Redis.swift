import Logging
import RegistryBackendRedis
import RegistryCore

extension BackendFactory {
    static func makeRedis(_ configuration: ServerConfiguration, metrics: RegistryMetrics, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        let settings = configuration.redis
        let redisConfiguration = RedisBackendConfiguration(
            host: settings.host,
            port: settings.port,
            username: settings.user,
            password: settings.password,
            database: settings.database,
            poolSize: settings.poolSize,
            timeout: settings.timeout,
            keyPrefix: settings.keyPrefix,
            outageGraceMax: configuration.outageGraceMax
        )
        do {
            return try RedisBackend(configuration: redisConfiguration, ttl: configuration.ttl, limits: configuration.limits, metrics: metrics, logger: logger)
        } catch {
            throw ConfigurationError("invalid redis configuration: \(error.message)")
        }
    }
}
