/// Where a Redis server is and how to talk to it.
public struct RESPConnectionConfiguration: Sendable {
    /// Host name or IP address.
    public var host: String
    public var port: Int
    /// An ACL user name (Redis 6 and later); nil or `default` for the default user.
    public var username: String?
    /// Sent with `AUTH` after connecting, when set.
    public var password: String?
    /// The logical database selected after connecting.
    public var database: Int
    /// How long opening the TCP connection may take (`AUTH` and `SELECT` then have the
    /// command timeout).
    public var connectTimeout: Duration
    /// How long any command may wait for its reply before the connection is given up.
    public var commandTimeout: Duration
    /// What the reply decoder accepts.
    public var decodingLimits: RESPDecodingLimits

    public init(
        host: String,
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(2),
        decodingLimits: RESPDecodingLimits = RESPDecodingLimits()
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.decodingLimits = decodingLimits
    }

    /// "redis at host:port", for messages.
    public var peerDescription: String {
        let address = self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
        return "redis at \(address)"
    }
}

extension Duration {
    /// Whole milliseconds, at least 1 for a positive duration.
    var clampedMilliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return self > .zero ? max(milliseconds, 1) : max(milliseconds, 0)
    }
}
