/// A Lua script and its SHA-1, as Redis names it.
///
/// Run it with ``RESPConnection/evaluate(_:keys:arguments:)`` or
/// ``RESPConnectionPool/evaluate(_:keys:arguments:)``: they send `EVALSHA`, and when the
/// server answers `NOSCRIPT` (it restarted, or its script cache was flushed) they load the
/// script and run it again, transparently.
public struct RESPScript: Hashable, Sendable {
    /// The Lua source.
    public let source: String
    /// The SHA-1 of the source in lowercase hex: the script's name for `EVALSHA`.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(of: source.utf8)
    }
}
