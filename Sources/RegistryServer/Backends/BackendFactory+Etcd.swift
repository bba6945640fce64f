import Logging
import RegistryCore

extension BackendFactory {
    static func makeEtcd(_ configuration: ServerConfiguration, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        throw Self.notBuiltYet(.etcd)
    }
}
