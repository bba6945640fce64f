import Logging
import RegistryBackendConsul
import RegistryCore

extension BackendFactory {
    static func makeConsul(_ configuration: ServerConfiguration, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        do {
            return try ConsulBackend(
                configuration: configuration.consul.configuration,
                ttl: configuration.ttl,
                limits: configuration.limits,
                logger: logger
            )
        } catch {
            throw ConfigurationError(error.message)
        }
    }
}
