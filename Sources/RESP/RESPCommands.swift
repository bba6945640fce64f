/// `PING`: checks that the server answers.
public struct PingCommand: RESPCommand {
    public init() {}
    public var arguments: [RESPArgument] { ["PING"] }

    public func decodeResponse(_ value: RESPValue) throws(RESPError) -> String {
        guard let text = value.string else { throw self.unexpected(value) }
        return text
    }
}

/// `AUTH [username] password`: authenticates the connection.
///
/// Without a username (or with `default`) it sends the one-argument form, which every
/// Redis version accepts; Redis 6 ACL users need the two-argument form.
public struct AuthCommand: RESPCommand {
    public var username: String?
    public var password: String

    public init(username: String?, password: String) {
        self.username = username
        self.password = password
    }

    public var arguments: [RESPArgument] {
        if let username, username != "default" {
            return ["AUTH", RESPArgument(username), RESPArgument(self.password)]
        }
        return ["AUTH", RESPArgument(self.password)]
    }

    public func decodeResponse(_ value: RESPValue) throws(RESPError) {
        try self.expectOK(value)
    }
}

/// `SELECT index`: switches the connection to another logical database.
public struct SelectCommand: RESPCommand {
    public var database: Int

    public init(database: Int) {
        self.database = database
    }

    public var arguments: [RESPArgument] { ["SELECT", RESPArgument(self.database)] }

    public func decodeResponse(_ value: RESPValue) throws(RESPError) {
        try self.expectOK(value)
    }
}

/// `TIME`: the server's clock.
public struct TimeCommand: RESPCommand {
    public init() {}
    public var arguments: [RESPArgument] { ["TIME"] }

    /// Milliseconds since the Unix epoch, rounded down.
    public func decodeResponse(_ value: RESPValue) throws(RESPError) -> Int64 {
        guard let parts = value.array, parts.count == 2, let seconds = parts[0].int64, let micros = parts[1].int64 else {
            throw self.unexpected(value)
        }
        return seconds * 1000 + micros / 1000
    }
}

/// `SCRIPT LOAD source`: caches a Lua script on the server and returns its SHA-1.
public struct ScriptLoadCommand: RESPCommand {
    public var source: String

    public init(source: String) {
        self.source = source
    }

    public var arguments: [RESPArgument] { ["SCRIPT", "LOAD", RESPArgument(self.source)] }

    public func decodeResponse(_ value: RESPValue) throws(RESPError) -> String {
        guard let sha = value.string else { throw self.unexpected(value) }
        return sha
    }
}

/// `EVALSHA sha numkeys key... arg...`: runs a cached Lua script.
///
/// Prefer ``RESPConnection/evaluate(_:keys:arguments:)``, which loads the script when
/// the server does not have it.
public struct EvalSHACommand: RESPCommand {
    public var sha1: String
    public var keys: [RESPArgument]
    public var scriptArguments: [RESPArgument]

    public init(sha1: String, keys: [RESPArgument], arguments: [RESPArgument]) {
        self.sha1 = sha1
        self.keys = keys
        self.scriptArguments = arguments
    }

    public var arguments: [RESPArgument] {
        ["EVALSHA", RESPArgument(self.sha1), RESPArgument(self.keys.count)] + self.keys + self.scriptArguments
    }

    public func decodeResponse(_ value: RESPValue) throws(RESPError) -> RESPValue {
        value
    }
}

/// Any command, given as its arguments, returning the raw reply. For tools and tests;
/// code that uses a command regularly gives it a typed value of its own.
public struct RawCommand: RESPCommand {
    public var arguments: [RESPArgument]

    public init(_ arguments: [RESPArgument]) {
        precondition(!arguments.isEmpty, "a command needs at least its name")
        self.arguments = arguments
    }

    public init(_ arguments: RESPArgument...) {
        self.init(arguments)
    }

    public func decodeResponse(_ value: RESPValue) throws(RESPError) -> RESPValue {
        value
    }
}
