public import ArgumentParser

/// The etcd backend's flags. (Not written yet.)
public struct EtcdOptions: ParsableArguments {
    public init() {}
}

/// Connection settings for the etcd backend.
public struct EtcdSettings: Sendable, Equatable {
    public init() {}

    init(options: EtcdOptions, settings: SettingResolver, warnings: inout [String]) throws(ConfigurationError) {}
}
