import Logging
import RegistryBackendEtcd
import RegistryCore

extension BackendFactory {
    static func makeEtcd(_ configuration: ServerConfiguration, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        var etcd = configuration.etcd.configuration
        etcd.outageGraceMax = configuration.outageGraceMax
        do {
            return try EtcdBackend(
                configuration: etcd,
                ttl: configuration.ttl,
                limits: configuration.limits,
                logger: logger
            )
        } catch {
            throw ConfigurationError("cannot use etcd: \(error.message)")
        }
    }
}
