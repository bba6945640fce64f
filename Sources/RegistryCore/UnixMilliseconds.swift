/// A point in registry time: milliseconds since the Unix epoch (UTC).
///
/// The registry owns time: every timestamp it stores or reports comes from its
/// ``WallClock`` (or, for remote backends, from the store's clock), never from a client.
public struct UnixMilliseconds: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int64

    public init(_ rawValue: Int64) {
        self.rawValue = rawValue
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// This instant moved by `duration`, rounded down to whole milliseconds.
    public func advanced(by duration: Duration) -> Self {
        Self(self.rawValue + duration.wholeMilliseconds)
    }

    /// The time from `other` to this instant.
    public func duration(since other: Self) -> Duration {
        .milliseconds(self.rawValue - other.rawValue)
    }

    public var description: String { "\(self.rawValue)ms" }
}

extension Duration {
    /// The duration in whole milliseconds, rounded toward zero.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
