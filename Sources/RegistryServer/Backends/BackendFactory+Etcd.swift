import Logging
import RegistryBackendEtcd
import RegistryCore

extension BackendFactory {
    static func makeEtcd(_ configuration: ServerConfiguration, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        do {
            return try EtcdBackend(
                configuration: configuration.etcd.configuration,
                ttl: configuration.ttl,
                limits: configuration.limits,
                logger: logger
            )
        } catch {
            throw ConfigurationError("cannot use etcd: \(error.message)")
        }
    }
}
