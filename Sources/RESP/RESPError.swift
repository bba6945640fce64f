/// A failure talking to a Redis server: a small ``Code`` saying what kind, and a message.
public struct RESPError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case connectFailed, connectionClosed, timeout, protocolViolation, serverError
            case unexpectedResponse, backingOff, poolClosed
        }
        private let base: Base

        /// No connection could be made (refused, unreachable, connect timeout, handshake failed).
        public static let connectFailed = Code(base: .connectFailed)
        /// The connection closed before the reply arrived.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// The server did not answer within the command timeout; the connection was closed.
        public static let timeout = Code(base: .timeout)
        /// The server sent bytes that are not valid RESP2, or more than the configured limits.
        public static let protocolViolation = Code(base: .protocolViolation)
        /// The server answered with an error reply (`-ERR ...`, `-NOSCRIPT ...`).
        public static let serverError = Code(base: .serverError)
        /// The reply was valid RESP but not the shape the command expects.
        public static let unexpectedResponse = Code(base: .unexpectedResponse)
        /// Recent connection attempts failed; the pool waits before trying again.
        public static let backingOff = Code(base: .backingOff)
        /// The pool has been shut down.
        public static let poolClosed = Code(base: .poolClosed)

        public var description: String {
            switch self.base {
            case .connectFailed: "connect failed"
            case .connectionClosed: "connection closed"
            case .timeout: "timeout"
            case .protocolViolation: "protocol violation"
            case .serverError: "server error"
            case .unexpectedResponse: "unexpected response"
            case .backingOff: "backing off"
            case .poolClosed: "pool closed"
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human-readable explanation; for ``Code/serverError`` the server's own message.
    public var message: String
    /// The lower-level error that caused this one, if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// For a server error, its first word (`ERR`, `NOSCRIPT`, `WRONGPASS`, ...).
    public var serverErrorPrefix: Substring? {
        guard self.code == .serverError else { return nil }
        return self.message.split(separator: " ", maxSplits: 1).first
    }

    /// Whether the failure concerns the connection rather than the command: retrying
    /// on another connection may succeed.
    public var isConnectionFailure: Bool {
        switch self.code {
        case .connectFailed, .connectionClosed, .timeout, .protocolViolation, .backingOff, .poolClosed: true
        default: false
        }
    }

    public var description: String {
        if let underlying {
            return "\(self.code): \(self.message) (\(underlying))"
        }
        return "\(self.code): \(self.message)"
    }
}
