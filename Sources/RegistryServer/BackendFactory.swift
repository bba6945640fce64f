import Logging
import RegistryBackendMemory
import RegistryCore

/// Builds the configured backend. The only place that knows every backend; each remote
/// backend's construction is in `Backends/BackendFactory+<Name>.swift`.
enum BackendFactory {
    /// - Parameter metrics: for backends that learn of expiries themselves (Redis prunes
    ///   what it expired natively); sweeping backends are counted by the sweeper.
    static func make(_ configuration: ServerConfiguration, metrics: RegistryMetrics = .disabled, logger: Logger) throws(ConfigurationError) -> any RegistryBackend {
        switch configuration.backend {
        case .memory:
            MemoryBackend(ttl: configuration.ttl, limits: configuration.limits, outageGraceMax: configuration.outageGraceMax, logger: logger)
        case .redis:
            try Self.makeRedis(configuration, metrics: metrics, logger: logger)
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
