import RegistryCore

/// Resolves each setting from, in order: its command-line flag, its environment variable
/// `AERO_ARC_REGISTRY_<FLAG_IN_UPPER_SNAKE>`, its default. Errors name where the bad value
/// came from, so a bad environment variable is as easy to find as a bad flag.
public struct SettingResolver: Sendable {
    /// The prefix of every environment variable the tools read.
    public static let environmentPrefix = "AERO_ARC_REGISTRY_"

    public let environment: [String: String]

    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// "relay-ttl" -> "AERO_ARC_REGISTRY_RELAY_TTL".
    public static func environmentName(of flag: String) -> String {
        Self.environmentPrefix + String(flag.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// The raw value and where it came from, or nil when neither flag nor variable is set.
    /// An empty environment variable counts as unset.
    public func raw(_ flag: String, _ commandLine: String?) -> (value: String, origin: String)? {
        if let commandLine {
            return (commandLine, "--\(flag)")
        }
        let name = Self.environmentName(of: flag)
        if let value = self.environment[name], !value.isEmpty {
            return (value, name)
        }
        return nil
    }

    /// A string setting.
    public func string(_ flag: String, _ commandLine: String?, default defaultValue: String) -> String {
        self.raw(flag, commandLine)?.value ?? defaultValue
    }

    /// A parsed setting; `expected` describes valid values for the error message.
    public func value<T>(
        _ flag: String,
        _ commandLine: String?,
        default defaultValue: T,
        expected: String,
        parse: (String) -> T?
    ) throws(ConfigurationError) -> T {
        guard let (raw, origin) = self.raw(flag, commandLine) else {
            return defaultValue
        }
        guard let value = parse(raw) else {
            throw ConfigurationError("invalid \(origin) '\(raw)': expected \(expected)")
        }
        return value
    }

    /// A Go-syntax duration within `range`.
    public func duration(
        _ flag: String,
        _ commandLine: String?,
        default defaultValue: Duration,
        range: ClosedRange<Duration>
    ) throws(ConfigurationError) -> Duration {
        let expected = "a duration such as 500ms, 30s or 1m30s, from \(range.lowerBound.goDescription) to \(range.upperBound.goDescription)"
        return try self.value(flag, commandLine, default: defaultValue, expected: expected) { raw in
            Duration(goSyntax: raw).flatMap { range.contains($0) ? $0 : nil }
        }
    }

    /// An integer within `range`.
    public func integer(
        _ flag: String,
        _ commandLine: String?,
        default defaultValue: Int,
        range: ClosedRange<Int>
    ) throws(ConfigurationError) -> Int {
        try self.value(flag, commandLine, default: defaultValue, expected: "an integer from \(range.lowerBound) to \(range.upperBound)") { raw in
            Int(raw).flatMap { range.contains($0) ? $0 : nil }
        }
    }

    /// A boolean: true/false, 1/0, yes/no, on/off (any case), as Go's flag package accepts.
    public func boolean(_ flag: String, _ commandLine: Bool?, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        if let commandLine {
            return commandLine
        }
        return try self.value(flag, nil, default: defaultValue, expected: "true or false") { raw in
            switch raw.lowercased() {
            case "true", "1", "t", "yes", "on": true
            case "false", "0", "f", "no", "off": false
            default: nil
            }
        }
    }
}
