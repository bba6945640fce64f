import Synchronization

/// Tracks one replica's outages of its store, so a backend can grant outage grace
/// exactly once, before it judges any request after the store comes back.
///
/// The evidence of an outage is the replica's own failed attempts (a request, or the
/// backend's periodic health check, that could not reach the store), never the absence of
/// writes: a quiet fleet is not an outage. An outage starts when the first such attempt
/// started, and ends when the grace has been applied in the store.
///
/// Backends call ``recordFailure(startedAt:)`` when an attempt fails because the store
/// cannot be reached, and wrap every store operation in ``beforeOperation(apply:)``: while
/// an outage is open, the first operation runs `apply` (the backend's grace step, given
/// how long ago the outage started), concurrent ones wait for it, and the operation
/// itself runs only once it succeeded.
public final class OutageTracker: Sendable {
    /// An outage that ended: how long it lasted on this replica and the grace applied.
    public struct Ended: Sendable, Equatable {
        public var length: Duration
        public var grace: Duration

        public init(length: Duration, grace: Duration) {
            self.length = length
            self.grace = grace
        }
    }

    private struct State {
        var failingSince: ContinuousClock.Instant?
        var applying: Task<Ended, any Error>?
        /// A failure recorded while the grace step ran: it opens the next outage.
        var failedWhileApplying: ContinuousClock.Instant?
        var history = History()
    }

    /// Every outage that ended since this tracker was made, for metrics and status.
    public struct History: Sendable, Equatable {
        public var outages = 0
        public var totalGrace = Duration.zero
        public var last: Ended?
        /// When the last outage ended (system time).
        public var lastEndedAt: UnixMilliseconds?

        public init() {}
    }

    /// The outages that ended so far.
    public var history: History {
        self.state.withLock { $0.history }
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether an outage is open: an attempt failed and no grace has been applied since.
    public var isOpen: Bool {
        self.state.withLock { $0.failingSince != nil }
    }

    /// When the open outage started, if one is open.
    public var openSince: ContinuousClock.Instant? {
        self.state.withLock { $0.failingSince }
    }

    /// Records an attempt that started at `start` and failed because the store could not
    /// be reached. The earliest failed attempt of an outage marks its start.
    public func recordFailure(startedAt start: ContinuousClock.Instant) {
        self.state.withLock { state in
            if state.applying != nil {
                state.failedWhileApplying = min(state.failedWhileApplying ?? start, start)
            } else {
                state.failingSince = min(state.failingSince ?? start, start)
            }
        }
    }

    /// Runs the grace step if an outage is open: `apply` receives when the outage started
    /// (it measures the length itself, once the store answers: a step started while the
    /// store is still down would otherwise under-count the outage) and returns the grace
    /// it granted. One caller runs it; concurrent
    /// callers wait for the same run. Returns the outage that just ended (to the caller
    /// that ran it and those that waited), or nil when none was open. If `apply` throws,
    /// the outage stays open and the error is rethrown.
    @discardableResult
    public func beforeOperation(apply: @escaping @Sendable (ContinuousClock.Instant) async throws -> Duration) async throws -> Ended? {
        let task: Task<Ended, any Error>? = self.state.withLock { state in
            guard let since = state.failingSince else { return nil }
            if let running = state.applying { return running }
            let running = Task<Ended, any Error> {
                let grace = try await apply(since)
                return Ended(length: ContinuousClock.now - since, grace: grace)
            }
            state.applying = running
            return running
        }
        guard let task else { return nil }
        do {
            let ended = try await task.value
            self.state.withLock { state in
                guard state.applying == task else { return }
                state.applying = nil
                state.failingSince = state.failedWhileApplying
                state.failedWhileApplying = nil
                state.history.outages += 1
                state.history.totalGrace += ended.grace
                state.history.last = ended
                state.history.lastEndedAt = SystemWallClock().now()
            }
            return ended
        } catch {
            self.state.withLock { state in
                guard state.applying == task else { return }
                state.applying = nil
                if let later = state.failedWhileApplying, let since = state.failingSince {
                    state.failingSince = min(since, later)
                }
                state.failedWhileApplying = nil
            }
            throw error
        }
    }
}
