import Logging
import RegistryCore

extension BackendFactory {
    static func makeRedis(_ configuration: ServerConfiguration, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        throw Self.notBuiltYet(.redis)
    }
}
