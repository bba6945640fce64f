/// The server's hint of when a relay should sync next (`next_sync_after_ms`).
///
/// Jittered by ±20% around the configured heartbeat interval, so a fleet that restarts
/// together spreads its syncs out instead of arriving in lock step; never above half the
/// shorter TTL (a relay following it renews well before anything expires, even after a
/// missed sync); never below 1 ms.
public struct SyncPacing: Sendable {
    public let interval: Duration
    public let ttl: TTLPolicy

    public init(interval: Duration, ttl: TTLPolicy) {
        self.interval = interval
        self.ttl = ttl
    }

    /// The hint, in milliseconds, for a jitter drawn uniformly from [-1, 1].
    public func nextSyncAfterMilliseconds(jitter: Double) -> Int64 {
        let intervalMilliseconds = Double(self.interval.wholeMilliseconds)
        let jittered = Int64((intervalMilliseconds * (1 + 0.2 * max(-1, min(1, jitter)))).rounded())
        let ceiling = max(1, min(self.ttl.relayTTLMilliseconds, self.ttl.agentTTLMilliseconds) / 2)
        return max(1, min(jittered, ceiling))
    }

    /// The hint with a random jitter.
    public func nextSyncAfterMilliseconds() -> Int64 {
        self.nextSyncAfterMilliseconds(jitter: Double.random(in: -1...1))
    }
}
