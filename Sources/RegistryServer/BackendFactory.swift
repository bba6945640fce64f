import Logging
import RegistryBackendMemory
import RegistryCore

/// Builds the configured backend. The only place that knows every backend; each remote
/// backend's construction is in `Backends/BackendFactory+<Name>.swift`.
enum BackendFactory {
    static func make(_ configuration: ServerConfiguration, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        switch configuration.backend {
        case .memory:
            MemoryBackend(ttl: configuration.ttl, limits: configuration.limits, outageGraceMax: configuration.outageGraceMax, logger: logger)
        case .redis:
            try Self.makeRedis(configuration, logger: logger)
        case .etcd:
            try Self.makeEtcd(configuration, logger: logger)
        case .consul:
            try Self.makeConsul(configuration, logger: logger)
        }
    }

    static func notBuiltYet(_ kind: ServerConfiguration.BackendKind) -> ConfigurationError {
        ConfigurationError("the \(kind.rawValue) backend is not available in this build yet; use --backend memory")
    }
}
