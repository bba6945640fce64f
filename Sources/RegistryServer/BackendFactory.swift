import RegistryBackendMemory
import RegistryCore

/// Builds the configured backend. The only place that knows every backend.
enum BackendFactory {
    static func make(_ configuration: ServerConfiguration) throws(ConfigurationError) -> any RegistryBackend {
        switch configuration.backend {
        case .memory:
            return MemoryBackend(ttl: configuration.ttl, limits: configuration.limits)
        case .redis, .etcd, .consul:
            throw ConfigurationError(
                "the \(configuration.backend.rawValue) backend is not available in this build yet; use --backend memory"
            )
        }
    }
}
