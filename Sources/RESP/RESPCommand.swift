/// A Redis command as a typed value: its arguments, and how to read its reply.
///
/// Error replies never reach ``decodeResponse(_:)``: sending a command whose reply is an
/// error throws a ``RESPError`` with code ``RESPError/Code/serverError``.
public protocol RESPCommand: Sendable {
    /// What the command returns.
    associatedtype Response: Sendable

    /// The command's name followed by its arguments.
    var arguments: [RESPArgument] { get }

    /// Reads a successful reply.
    /// - Throws: ``RESPError/Code/unexpectedResponse`` when it is not the expected shape.
    func decodeResponse(_ value: RESPValue) throws(RESPError) -> Response
}

extension RESPCommand {
    /// The command's name, for messages.
    public var name: String {
        self.arguments.first.map(\.description) ?? "?"
    }

    /// An ``RESPError/Code/unexpectedResponse`` error naming this command.
    public func unexpected(_ value: RESPValue) -> RESPError {
        RESPError(.unexpectedResponse, "unexpected reply to \(self.name): \(String(describing: value).prefix(200))")
    }

    /// Checks for `+OK`.
    func expectOK(_ value: RESPValue) throws(RESPError) {
        guard value.string == "OK" else { throw self.unexpected(value) }
    }
}
