/// When this replica's open outage of Consul began, in registry time (the backend's
/// clock), kept beside ``OutageTracker`` (which measures on the monotonic clock) so that
/// the grace step measures the outage on the same clock as the deadlines it moves: with a
/// manual clock in tests, time moved during an outage counts as outage time.
///
/// It follows the tracker's outage: failures recorded while no grace step runs open (or
/// move earlier) the outage; ``beginGrace()`` hands its start to the grace step; failures
/// recorded while that step runs open the next outage; a failed step leaves the outage open.
/// A pure value: the backend keeps it in a `Mutex`.
struct ConsulOutageStart: Sendable, Equatable {
    /// Registry time (ms) at which the earliest failed attempt of the open outage started.
    private(set) var openSince: Int64?
    /// The start of the outage whose grace step is running, if one is.
    private(set) var granting: Int64?

    /// An attempt that started at `start` (registry ms) could not reach Consul.
    mutating func recordFailure(startedAt start: Int64) {
        self.openSince = min(self.openSince ?? start, start)
    }

    /// The grace step starts: returns the outage's start (nil when no failure was recorded
    /// here, which the caller answers from the tracker's measure).
    mutating func beginGrace() -> Int64? {
        self.granting = self.openSince
        self.openSince = nil
        return self.granting
    }

    /// The grace step succeeded: the outage is over. Failures recorded meanwhile stay, as
    /// the start of the next one.
    mutating func graceApplied() {
        self.granting = nil
    }

    /// The grace step failed: the outage is still open, from its earliest start.
    mutating func graceFailed() {
        if let granting = self.granting {
            self.openSince = min(self.openSince ?? granting, granting)
        }
        self.granting = nil
    }
}
