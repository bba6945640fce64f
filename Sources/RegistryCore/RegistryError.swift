/// An error the registry reports to its callers.
///
/// A small ``Code`` says what kind of failure it is (transports map it to their
/// own status codes in exactly one place); ``message`` says, for a human, what
/// went wrong, naming the field or entry involved.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidArgument, notFound, failedPrecondition, resourceExhausted, unavailable, internalError
        }
        private let base: Base

        /// The request is malformed: a field is missing, empty, too long or out of range.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// The relay or agent does not exist or is no longer live.
        public static let notFound = Code(base: .notFound)
        /// The entry exists but is not in a state that allows this: a placement onto a
        /// draining relay.
        public static let failedPrecondition = Code(base: .failedPrecondition)
        /// A capacity limit would be exceeded.
        public static let resourceExhausted = Code(base: .resourceExhausted)
        /// The storage backend failed or did not answer in time; retrying may succeed.
        public static let unavailable = Code(base: .unavailable)
        /// A bug: an invariant of the registry did not hold.
        public static let internalError = Code(base: .internalError)

        public var description: String {
            switch self.base {
            case .invalidArgument: "invalid argument"
            case .notFound: "not found"
            case .failedPrecondition: "failed precondition"
            case .resourceExhausted: "resource exhausted"
            case .unavailable: "unavailable"
            case .internalError: "internal error"
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human-readable explanation naming what was wrong.
    public var message: String
    /// The lower-level error that caused this one, if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying {
            return "\(self.code): \(self.message) (\(underlying))"
        }
        return "\(self.code): \(self.message)"
    }
}

extension RegistryError {
    /// The request is malformed.
    public static func invalidArgument(_ message: String) -> Self {
        Self(.invalidArgument, message)
    }

    /// The relay or agent does not exist or is no longer live.
    public static func notFound(_ message: String) -> Self {
        Self(.notFound, message)
    }

    /// The entry is not in a state that allows the operation.
    public static func failedPrecondition(_ message: String) -> Self {
        Self(.failedPrecondition, message)
    }

    /// A capacity limit would be exceeded.
    public static func resourceExhausted(_ message: String) -> Self {
        Self(.resourceExhausted, message)
    }

    /// The storage backend failed or timed out.
    public static func unavailable(_ message: String, underlying: (any Error)? = nil) -> Self {
        Self(.unavailable, message, underlying: underlying)
    }

    /// A bug in the registry.
    public static func internalError(_ message: String, underlying: (any Error)? = nil) -> Self {
        Self(.internalError, message, underlying: underlying)
    }
}
