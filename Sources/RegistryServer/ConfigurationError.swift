/// A configuration value the server cannot start with. Its description is the one line
/// printed before exiting.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
