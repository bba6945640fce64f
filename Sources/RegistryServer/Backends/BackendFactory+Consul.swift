import Logging
import RegistryBackendConsul
import RegistryCore

extension BackendFactory {
    static func makeConsul(_ configuration: ServerConfiguration, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        var consulConfiguration = configuration.consul.configuration
        consulConfiguration.outageGraceMax = configuration.outageGraceMax
        do {
            return try ConsulBackend(
                configuration: consulConfiguration,
                ttl: configuration.ttl,
                limits: configuration.limits,
                logger: logger
            )
        } catch {
            throw ConfigurationError(error.message)
        }
    }
}
