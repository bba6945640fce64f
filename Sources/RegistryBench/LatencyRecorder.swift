public import GRPCCore
public import Histogram

/// What one load run measured: a latency histogram in microseconds, successes, and
/// failures by status code.
public struct LoadResult: Sendable {
    public var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    public var successes = 0
    public var errors: [String: Int] = [:]
    /// Wall time the measured part of the run took.
    public var elapsed: Duration = .zero

    public init() {}

    public mutating func record(_ latency: Duration) {
        _ = self.latency.record(UInt64(max(1, latency.microseconds)))
        self.successes += 1
    }

    public mutating func record(_ latency: Duration, error: any Error) {
        _ = self.latency.record(UInt64(max(1, latency.microseconds)))
        let code = (error as? RPCError).map { "\($0.code)" } ?? "\(type(of: error))"
        self.errors[code, default: 0] += 1
    }

    public mutating func merge(_ other: LoadResult) {
        self.latency.add(other.latency)
        self.successes += other.successes
        self.errors.merge(other.errors, uniquingKeysWith: +)
    }

    /// Completed calls (successful or not) per second.
    public var throughput: Double {
        let seconds = self.elapsed.seconds
        return seconds > 0 ? Double(self.successes + self.errorCount) / seconds : 0
    }

    public var errorCount: Int { self.errors.values.reduce(0, +) }
}

extension Duration {
    /// Whole microseconds.
    public var microseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }

    /// Seconds as a Double.
    public var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
