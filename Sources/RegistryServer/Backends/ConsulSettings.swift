public import ArgumentParser

/// The consul backend's flags. (Not written yet.)
public struct ConsulOptions: ParsableArguments {
    public init() {}
}

/// Connection settings for the consul backend.
public struct ConsulSettings: Sendable, Equatable {
    public init() {}

    init(options: ConsulOptions, settings: SettingResolver, warnings: inout [String]) throws(ConfigurationError) {}
}
