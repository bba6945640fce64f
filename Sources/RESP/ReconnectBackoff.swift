/// How long to wait before connecting again after failures: exponential, capped, jittered.
///
/// After the n-th consecutive failure the base delay is `initial × 2^(n-1)`, at most
/// `maximum`; the actual delay is drawn uniformly from `[base × (1 - jitter), base]`, so
/// that many clients losing the same server do not all come back at the same instant.
public struct ReconnectBackoff: Hashable, Sendable {
    public var initial: Duration
    public var maximum: Duration
    /// The fraction of the delay that is random, in 0...1.
    public var jitter: Double

    public init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(2), jitter: Double = 0.5) {
        self.initial = initial
        self.maximum = max(maximum, initial)
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay after `failures` consecutive failures (at least 1), with `random` in 0..<1.
    public func delay(afterFailures failures: Int, random: Double) -> Duration {
        let exponent = min(max(failures, 1) - 1, 30)
        let base = min(self.initial * (1 << exponent), self.maximum)
        return base * (1 - self.jitter * min(max(random, 0), 1))
    }
}
