import Logging
import RegistryCore

extension BackendFactory {
    static func makeConsul(_ configuration: ServerConfiguration, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        throw Self.notBuiltYet(.consul)
    }
}
